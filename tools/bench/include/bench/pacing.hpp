#pragma once

#include <chrono>
#include <cstdint>

namespace bench {

// The open-model schedule of a fixed offered rate: request `index` (0-based, over the whole
// run) is due at OffsetOf(index) after the start, whatever happened to the requests before it.
// Latency is measured from that due time, so a slow server cannot hide its slowness by delaying
// the requests that would have observed it (coordinated omission).
class RateSchedule {
  public:
    // Precondition: 0 < rate_per_second and finite.
    explicit RateSchedule(double rate_per_second);

    // The first whole nanosecond at or after index / rate. Non-decreasing in `index`.
    std::chrono::nanoseconds OffsetOf(std::uint64_t index) const;

    // How many requests are due within [0, elapsed], i.e. the count of indices whose offset is
    // <= elapsed. 0 for a negative `elapsed`. Consistent with OffsetOf by construction.
    std::uint64_t DueBy(std::chrono::nanoseconds elapsed) const;

    double rate_per_second() const { return rate_per_second_; }

  private:
    double rate_per_second_;
};

// Which of `parts` shares owns global index `index` when indices are dealt round-robin: part
// k owns k, k + parts, k + 2 * parts, ... Load threads use this to split one schedule.
inline std::uint32_t OwnerOf(std::uint64_t index, std::uint32_t parts) {
    return static_cast<std::uint32_t>(index % parts);
}

// The size of part `k` when `total` items are split over `parts` as evenly as possible (the
// first total % parts parts get one more). Precondition: k < parts.
std::uint32_t ShareOf(std::uint32_t total, std::uint32_t parts, std::uint32_t k);

}  // namespace bench
