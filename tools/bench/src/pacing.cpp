#include "bench/pacing.hpp"

#include <cmath>

#include "commons/assert.hpp"

namespace bench {

RateSchedule::RateSchedule(double rate_per_second) : rate_per_second_(rate_per_second) {
    PAY_ASSERT(std::isfinite(rate_per_second) && rate_per_second > 0);
}

std::chrono::nanoseconds RateSchedule::OffsetOf(std::uint64_t index) const {
    // long double keeps 64 bits of mantissa: exact to well under a nanosecond for any index
    // bench can reach (an hour at the maximum rate).
    const long double offset_nanos =
        static_cast<long double>(index) * 1e9L / static_cast<long double>(rate_per_second_);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::ceil(offset_nanos)));
}

std::uint64_t RateSchedule::DueBy(std::chrono::nanoseconds elapsed) const {
    if (elapsed.count() < 0) return 0;
    // Estimate, then correct against OffsetOf so both functions agree exactly at boundaries.
    auto due = static_cast<std::uint64_t>(static_cast<long double>(elapsed.count()) *
                                          static_cast<long double>(rate_per_second_) / 1e9L) +
               1;
    while (due > 0 && OffsetOf(due - 1) > elapsed) --due;
    while (OffsetOf(due) <= elapsed) ++due;
    return due;
}

std::uint32_t ShareOf(std::uint32_t total, std::uint32_t parts, std::uint32_t k) {
    PAY_ASSERT(k < parts);
    return total / parts + (k < total % parts ? 1 : 0);
}

}  // namespace bench
