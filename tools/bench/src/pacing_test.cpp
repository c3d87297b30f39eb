#include "bench/pacing.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace bench {
namespace {

using std::chrono::nanoseconds;

TEST(RateSchedule, SpacesRequestsEvenly) {
    RateSchedule schedule(5000);
    EXPECT_EQ(schedule.OffsetOf(0), nanoseconds(0));
    EXPECT_EQ(schedule.OffsetOf(1), nanoseconds(200'000));
    EXPECT_EQ(schedule.OffsetOf(5000), std::chrono::seconds(1));
    // An hour at the maximum rate is still exact to the nanosecond.
    RateSchedule fast(1'000'000);
    EXPECT_EQ(fast.OffsetOf(3'600'000'000ULL), std::chrono::hours(1));
}

TEST(RateSchedule, RoundsUpToWholeNanoseconds) {
    RateSchedule schedule(3);
    EXPECT_EQ(schedule.OffsetOf(1), nanoseconds(333'333'334));
    EXPECT_EQ(schedule.OffsetOf(2), nanoseconds(666'666'667));
    EXPECT_EQ(schedule.OffsetOf(3), nanoseconds(1'000'000'000));
    RateSchedule slow(0.01);
    EXPECT_EQ(slow.OffsetOf(1), std::chrono::seconds(100));
}

TEST(RateSchedule, OffsetsNeverDecrease) {
    for (double rate : {0.7, 3.0, 999.9, 12345.0, 1e6}) {
        RateSchedule schedule(rate);
        for (std::uint64_t i = 1; i < 20'000; ++i) {
            ASSERT_LE(schedule.OffsetOf(i - 1), schedule.OffsetOf(i)) << rate << " " << i;
        }
    }
}

TEST(RateSchedule, DueByCountsOffsetsAtOrBeforeTheTime) {
    RateSchedule schedule(1000);
    EXPECT_EQ(schedule.DueBy(nanoseconds(-1)), 0u);
    EXPECT_EQ(schedule.DueBy(nanoseconds(0)), 1u);  // request 0 is due at once
    EXPECT_EQ(schedule.DueBy(nanoseconds(999'999)), 1u);
    EXPECT_EQ(schedule.DueBy(nanoseconds(1'000'000)), 2u);
    EXPECT_EQ(schedule.DueBy(std::chrono::seconds(10)), 10'001u);
}

TEST(RateSchedule, DueByAgreesWithOffsetOfAtEveryBoundary) {
    for (double rate : {3.0, 7.5, 1000.0, 333'333.0}) {
        RateSchedule schedule(rate);
        for (std::uint64_t i = 0; i < 2000; ++i) {
            const nanoseconds offset = schedule.OffsetOf(i);
            ASSERT_GE(schedule.DueBy(offset), i + 1) << rate << " " << i;
            if (offset.count() > 0) {
                ASSERT_LE(schedule.DueBy(offset - nanoseconds(1)), i);
            }
        }
    }
}

TEST(Sharding, EveryIndexHasExactlyOneOwner) {
    for (std::uint32_t parts : {1u, 2u, 3u, 64u}) {
        std::vector<int> owned(parts, 0);
        for (std::uint64_t index = 0; index < 6720; ++index) ++owned[OwnerOf(index, parts)];
        for (int count : owned) EXPECT_EQ(count, static_cast<int>(6720 / parts));
    }
}

TEST(Sharding, SharesAddUpAndDifferByAtMostOne) {
    for (std::uint32_t total : {1u, 7u, 64u, 10'000u}) {
        for (std::uint32_t parts : {1u, 2u, 3u, 7u}) {
            if (parts > total) continue;
            std::uint32_t sum = 0;
            for (std::uint32_t k = 0; k < parts; ++k) {
                sum += ShareOf(total, parts, k);
                EXPECT_LE(ShareOf(total, parts, 0) - ShareOf(total, parts, k), 1u);
            }
            EXPECT_EQ(sum, total);
        }
    }
}

}  // namespace
}  // namespace bench
