#include "bench/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#include "commons/assert.hpp"

namespace bench {
namespace {

constexpr int kSubBucketBits = std::countr_zero(LatencyHistogram::kSubBucketCount);
static_assert(std::has_single_bit(LatencyHistogram::kSubBucketCount));

}  // namespace

std::size_t LatencyHistogram::BucketIndex(std::uint64_t micros) {
    micros = std::min(micros, kValueMaxMicros);
    if (micros < 2 * kSubBucketCount) return static_cast<std::size_t>(micros);
    // Keep the top kSubBucketBits + 1 bits: `top` is in [kSubBucketCount, 2 * kSubBucketCount).
    const int shift = static_cast<int>(std::bit_width(micros)) - 1 - kSubBucketBits;
    const std::uint64_t top = micros >> shift;
    return static_cast<std::size_t>(static_cast<std::uint64_t>(shift) * kSubBucketCount + top);
}

std::uint64_t LatencyHistogram::BucketUpperBound(std::size_t index) {
    if (index < 2 * kSubBucketCount) return index;
    const std::uint64_t shift = index / kSubBucketCount - 1;
    const std::uint64_t top = index % kSubBucketCount + kSubBucketCount;
    return ((top + 1) << shift) - 1;
}

std::size_t LatencyHistogram::BucketCount() { return BucketIndex(kValueMaxMicros) + 1; }

LatencyHistogram::LatencyHistogram() : counts_(BucketCount(), 0) {}

void LatencyHistogram::RecordMicros(std::uint64_t micros) {
    micros = std::min(micros, kValueMaxMicros);
    ++counts_[BucketIndex(micros)];
    ++count_;
    min_micros_ = std::min(min_micros_, micros);
    max_micros_ = std::max(max_micros_, micros);
    sum_micros_ += static_cast<double>(micros);
}

void LatencyHistogram::Record(std::chrono::nanoseconds latency) {
    const std::int64_t nanos = latency.count();
    RecordMicros(nanos <= 0 ? 0 : static_cast<std::uint64_t>((nanos + 999) / 1000));
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
    PAY_ASSERT(counts_.size() == other.counts_.size());
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    min_micros_ = std::min(min_micros_, other.min_micros_);
    max_micros_ = std::max(max_micros_, other.max_micros_);
    sum_micros_ += other.sum_micros_;
}

double LatencyHistogram::mean_micros() const {
    return count_ == 0 ? 0.0 : sum_micros_ / static_cast<double>(count_);
}

std::uint64_t LatencyHistogram::PercentileMicros(double quantile) const {
    if (count_ == 0) return 0;
    quantile = std::clamp(quantile, 0.0, 1.0);
    if (quantile == 0.0) return min_micros();
    // The rank of the sample at `quantile`, 1-based; at least the first sample. The product is
    // shrunk by a relative 1e-15 so that rounding error (0.07 * 100 = 7.000000000000001) does
    // not push an exact rank up by one; real fractional parts are far larger than that.
    const double exact_rank = quantile * static_cast<double>(count_) * (1.0 - 1e-15);
    const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(exact_rank)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::clamp(BucketUpperBound(i), min_micros(), max_micros_);
    }
    return max_micros_;
}

}  // namespace bench
