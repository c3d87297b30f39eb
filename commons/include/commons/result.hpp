#pragma once

#include <utility>
#include <variant>

#include "commons/assert.hpp"

namespace commons {

// A value or an expected error code (STYLE.md: expected outcomes are values). Accessing the
// wrong alternative is a programmer error and asserts.
template <typename T, typename E>
class Result {
  public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
    Result(E error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    const T& value() const& {
        PAY_ASSERT(ok());
        return std::get<0>(state_);
    }
    T&& value() && {
        PAY_ASSERT(ok());
        return std::get<0>(std::move(state_));
    }
    const E& error() const {
        PAY_ASSERT(!ok());
        return std::get<1>(state_);
    }

  private:
    std::variant<T, E> state_;
};

}  // namespace commons
