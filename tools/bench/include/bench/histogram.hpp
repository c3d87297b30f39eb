#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench {

// Latency histogram with fixed memory, in the manner of HdrHistogram: values are microseconds,
// exact below 2 * kSubBucketCount, then kSubBucketCount buckets per power of two, so a reported
// value is never more than 1/kSubBucketCount (0.8%) above the true one. Values above
// kValueMaxMicros are recorded as kValueMaxMicros. Not thread-safe: keep one per thread and
// Merge them.
class LatencyHistogram {
  public:
    static constexpr std::uint64_t kSubBucketCount = 128;
    // One hour, the longest run bench allows; no single latency can be longer.
    static constexpr std::uint64_t kValueMaxMicros = 3'600'000'000;

    LatencyHistogram();

    void RecordMicros(std::uint64_t micros);
    // Rounds up to whole microseconds; a negative duration records 0.
    void Record(std::chrono::nanoseconds latency);
    void Merge(const LatencyHistogram& other);

    std::uint64_t count() const { return count_; }
    // Exact extremes and mean; 0 when empty.
    std::uint64_t min_micros() const { return count_ == 0 ? 0 : min_micros_; }
    std::uint64_t max_micros() const { return max_micros_; }
    double mean_micros() const;

    // The smallest value v such that at least `quantile` of the samples are <= v, up to bucket
    // precision (the bucket's upper bound, capped at max_micros()). `quantile` is clamped to
    // [0, 1]; 0 gives min_micros(). 0 when empty.
    std::uint64_t PercentileMicros(double quantile) const;

    // The bucket a value falls in and the largest value that bucket holds; exposed for tests.
    static std::size_t BucketIndex(std::uint64_t micros);
    static std::uint64_t BucketUpperBound(std::size_t index);
    static std::size_t BucketCount();

  private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t min_micros_ = UINT64_MAX;
    std::uint64_t max_micros_ = 0;
    // A double cannot overflow here; it is only used for the mean.
    double sum_micros_ = 0;
};

}  // namespace bench
