#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace commons {

// Makes server-side ids: `<prefix>_<26 characters>`, where the characters are Crockford base32
// of a 48-bit millisecond Unix time followed by 80 random bits (the ULID layout). Ids sort by
// creation time as plain strings; ids made in the same millisecond by one generator increase
// strictly. Thread-safe.
class IdGenerator {
  public:
    using MillisClock = std::function<std::uint64_t()>;

    // `now_ms` defaults to the system clock; tests inject their own.
    explicit IdGenerator(MillisClock now_ms = {});

    // Precondition: prefix is 1 to 8 lower-case letters ("acct", "txn", "pi", ...).
    std::string Next(std::string_view prefix);

  private:
    MillisClock now_ms_;
    std::mutex mutex_;
    bool has_last_ = false;
    std::uint64_t last_ms_ = 0;
    std::array<std::uint8_t, 10> last_random_{};
};

// The smallest id Next(prefix) can make at `unix_ms` (its random part all zero): every id made
// at an earlier millisecond sorts below it, every id made at that millisecond or later does not.
// For range scans of time-ordered ids, such as a retention cutoff.
std::string IdTimeBoundary(std::string_view prefix, std::uint64_t unix_ms);

// True when `id` has the shape Next(prefix) produces.
bool IsGeneratedId(std::string_view id, std::string_view prefix);

// Cryptographically random bytes from OpenSSL, hex encoded (2 characters per byte).
std::string RandomHex(std::size_t bytes);

}  // namespace commons
