#include "bench/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace bench {
namespace {

using Histogram = LatencyHistogram;

TEST(LatencyHistogram, IsEmptyAtFirst) {
    Histogram histogram;
    EXPECT_EQ(histogram.count(), 0u);
    EXPECT_EQ(histogram.PercentileMicros(0.5), 0u);
    EXPECT_EQ(histogram.min_micros(), 0u);
    EXPECT_EQ(histogram.max_micros(), 0u);
    EXPECT_EQ(histogram.mean_micros(), 0.0);
}

TEST(LatencyHistogram, IsExactForSmallValues) {
    Histogram histogram;
    for (std::uint64_t v = 1; v <= 100; ++v) histogram.RecordMicros(v);
    EXPECT_EQ(histogram.PercentileMicros(0.5), 50u);
    EXPECT_EQ(histogram.PercentileMicros(0.9), 90u);
    EXPECT_EQ(histogram.PercentileMicros(0.99), 99u);
    EXPECT_EQ(histogram.PercentileMicros(0.07), 7u);  // 0.07 * 100 is not exactly 7 in binary
    EXPECT_EQ(histogram.PercentileMicros(1.0), 100u);
    EXPECT_EQ(histogram.PercentileMicros(0.0), 1u);
    EXPECT_EQ(histogram.min_micros(), 1u);
    EXPECT_EQ(histogram.max_micros(), 100u);
    EXPECT_DOUBLE_EQ(histogram.mean_micros(), 50.5);
}

TEST(LatencyHistogram, OneSampleIsEveryPercentile) {
    Histogram histogram;
    histogram.RecordMicros(123'456);
    for (double q : {0.0, 0.5, 0.99, 0.999, 1.0}) {
        EXPECT_EQ(histogram.PercentileMicros(q), 123'456u) << q;  // capped at the exact max
    }
}

TEST(LatencyHistogram, BucketsAreContiguousAndBounded) {
    // Every value maps to a bucket whose range contains it, and bucket ranges tile the axis.
    std::uint64_t previous_upper = 0;
    for (std::size_t index = 0; index < Histogram::BucketCount(); ++index) {
        std::uint64_t upper = Histogram::BucketUpperBound(index);
        std::uint64_t lower = index == 0 ? 0 : previous_upper + 1;
        ASSERT_LE(lower, upper) << index;
        ASSERT_EQ(Histogram::BucketIndex(lower), index);
        ASSERT_EQ(Histogram::BucketIndex(upper), index);
        // Relative width: under 1/128 of the value.
        ASSERT_LE(upper - lower, lower / Histogram::kSubBucketCount) << index;
        previous_upper = upper;
    }
    EXPECT_GE(previous_upper, Histogram::kValueMaxMicros);
    EXPECT_LT(Histogram::BucketCount(), 5000u);  // bounded memory: a few tens of KiB
}

TEST(LatencyHistogram, ClampsValuesAboveTheMaximum) {
    Histogram histogram;
    histogram.RecordMicros(UINT64_MAX);
    histogram.Record(std::chrono::hours(5));
    EXPECT_EQ(histogram.count(), 2u);
    EXPECT_EQ(histogram.max_micros(), Histogram::kValueMaxMicros);
    EXPECT_EQ(histogram.PercentileMicros(0.5), Histogram::kValueMaxMicros);
}

TEST(LatencyHistogram, RecordsDurationsRoundedUpToMicroseconds) {
    Histogram histogram;
    histogram.Record(std::chrono::nanoseconds(1));
    histogram.Record(std::chrono::nanoseconds(-5));
    histogram.Record(std::chrono::microseconds(3));
    EXPECT_EQ(histogram.min_micros(), 0u);
    EXPECT_EQ(histogram.PercentileMicros(0.5), 1u);
    EXPECT_EQ(histogram.max_micros(), 3u);
}

TEST(LatencyHistogram, PercentilesStayWithinPrecisionOfExactOnes) {
    const std::uint64_t seed = 20240601;
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 random(seed);
    std::lognormal_distribution<double> latency(std::log(2000.0), 1.0);
    std::vector<std::uint64_t> samples;
    Histogram histogram;
    for (int i = 0; i < 200'000; ++i) {
        auto micros = static_cast<std::uint64_t>(latency(random));
        samples.push_back(micros);
        histogram.RecordMicros(micros);
    }
    std::sort(samples.begin(), samples.end());
    for (double q : {0.5, 0.9, 0.99, 0.999}) {
        const auto rank = static_cast<std::size_t>(std::ceil(q * samples.size()));
        const std::uint64_t exact = samples[rank - 1];
        const std::uint64_t reported = histogram.PercentileMicros(q);
        EXPECT_GE(reported, exact) << q;
        EXPECT_LE(reported, exact + exact / Histogram::kSubBucketCount) << q;
    }
    EXPECT_EQ(histogram.max_micros(), samples.back());
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
    Histogram a;
    Histogram b;
    Histogram both;
    for (std::uint64_t v = 0; v < 5000; v += 7) {
        (v % 2 == 0 ? a : b).RecordMicros(v * 13);
        both.RecordMicros(v * 13);
    }
    a.Merge(b);
    EXPECT_EQ(a.count(), both.count());
    EXPECT_EQ(a.min_micros(), both.min_micros());
    EXPECT_EQ(a.max_micros(), both.max_micros());
    EXPECT_DOUBLE_EQ(a.mean_micros(), both.mean_micros());
    for (double q : {0.1, 0.5, 0.9, 0.99, 0.999}) {
        EXPECT_EQ(a.PercentileMicros(q), both.PercentileMicros(q));
    }
    Histogram empty;
    empty.Merge(Histogram());
    EXPECT_EQ(empty.count(), 0u);
    EXPECT_EQ(empty.min_micros(), 0u);
}

}  // namespace
}  // namespace bench
