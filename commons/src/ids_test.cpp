#include "commons/ids.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace commons {
namespace {

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t kBodyLength = 26;

// The 10 Crockford base32 characters that encode a 48-bit millisecond time (ULID layout).
std::string EncodeTime(std::uint64_t ms) {
    std::string out(10, '0');
    for (int i = 9; i >= 0; --i) {
        out[static_cast<std::size_t>(i)] = kCrockford[ms & 31];
        ms >>= 5;
    }
    return out;
}

std::string TimePart(const std::string& id, std::string_view prefix) {
    return id.substr(prefix.size() + 1, 10);
}

TEST(IdGenerator, MakesPrefixUnderscoreAnd26Crockford) {
    IdGenerator ids;
    for (std::string_view prefix : {"acct", "txn", "pi", "a", "abcdefgh"}) {
        std::string id = ids.Next(prefix);
        ASSERT_EQ(id.size(), prefix.size() + 1 + kBodyLength) << id;
        EXPECT_EQ(id.substr(0, prefix.size()), prefix);
        EXPECT_EQ(id[prefix.size()], '_');
        for (char c : id.substr(prefix.size() + 1)) {
            EXPECT_NE(kCrockford.find(c), std::string_view::npos) << id;
        }
        EXPECT_TRUE(IsGeneratedId(id, prefix)) << id;
    }
}

TEST(IdGenerator, EncodesTheInjectedMillisecondFirst) {
    for (std::uint64_t ms : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1'700'000'000'123},
                             (std::uint64_t{1} << 48) - 1}) {
        IdGenerator ids([ms] { return ms; });
        std::string id = ids.Next("txn");
        EXPECT_EQ(TimePart(id, "txn"), EncodeTime(ms)) << id;
        EXPECT_TRUE(IsGeneratedId(id, "txn")) << id;
    }
    EXPECT_EQ(EncodeTime((std::uint64_t{1} << 48) - 1), "7ZZZZZZZZZ");
}

TEST(IdTimeBoundary, SplitsIdsByTheMillisecondTheyWereMadeIn) {
    const std::uint64_t ms = 1'700'000'000'123;
    const std::string boundary = IdTimeBoundary("dlv", ms);
    EXPECT_EQ(boundary, "dlv_" + EncodeTime(ms) + "0000000000000000");
    for (int i = 0; i < 200; ++i) {
        IdGenerator before([ms] { return ms - 1; });
        IdGenerator at([ms] { return ms; });
        IdGenerator after([ms] { return ms + 1; });
        EXPECT_LT(before.Next("dlv"), boundary);
        EXPECT_GE(at.Next("dlv"), boundary);
        EXPECT_GT(after.Next("dlv"), boundary);
    }
}

TEST(IdGenerator, IdsInOneMillisecondIncreaseStrictly) {
    constexpr std::uint64_t kNow = 1'700'000'000'000;
    IdGenerator ids([] { return kNow; });
    std::string previous = ids.Next("txn");
    for (int i = 1; i < 10'000; ++i) {
        std::string id = ids.Next("txn");
        ASSERT_LT(previous, id) << "id " << i;
        ASSERT_EQ(TimePart(id, "txn"), EncodeTime(kNow)) << id;
        ASSERT_TRUE(IsGeneratedId(id, "txn")) << id;
        previous = std::move(id);
    }
}

TEST(IdGenerator, IdsSortByMillisecond) {
    std::uint64_t now = 1'700'000'000'000;
    IdGenerator ids([&now] { return now; });
    std::string previous = ids.Next("pi");
    for (int i = 0; i < 1'000; ++i) {
        // Alternate between several ids in one millisecond and a step to the next one.
        if (i % 3 == 0) ++now;
        std::string id = ids.Next("pi");
        ASSERT_LT(previous, id) << "at " << now;
        ASSERT_EQ(TimePart(id, "pi"), EncodeTime(now));
        previous = std::move(id);
    }
}

TEST(IdGenerator, LaterMillisecondSortsAfterAnyRandomPart) {
    // A fresh generator per id: the random part is new each time, so only the time orders them.
    std::vector<std::string> made;
    for (std::uint64_t ms = 1'000; ms < 1'100; ++ms) {
        IdGenerator ids([ms] { return ms; });
        made.push_back(ids.Next("acct"));
    }
    EXPECT_TRUE(std::is_sorted(made.begin(), made.end()));
    EXPECT_EQ(std::set<std::string>(made.begin(), made.end()).size(), made.size());
}

TEST(IdGenerator, StaysIncreasingWhenClockStepsBack) {
    std::uint64_t now = 2'000;
    IdGenerator ids([&now] { return now; });
    std::string first = ids.Next("txn");
    now = 1'000;
    std::string second = ids.Next("txn");
    EXPECT_LT(first, second);
    EXPECT_EQ(TimePart(second, "txn"), EncodeTime(2'000));
    now = 2'001;
    std::string third = ids.Next("txn");
    EXPECT_LT(second, third);
    EXPECT_EQ(TimePart(third, "txn"), EncodeTime(2'001));
}

TEST(IdGenerator, SystemClockIdsAreUnique) {
    IdGenerator ids;
    std::set<std::string> seen;
    std::string previous;
    for (int i = 0; i < 10'000; ++i) {
        std::string id = ids.Next("txn");
        ASSERT_TRUE(seen.insert(id).second) << "duplicate " << id;
        ASSERT_LT(previous, id);
        previous = std::move(id);
    }
}

TEST(IdGenerator, GeneratorsInTheSameMillisecondDiffer) {
    IdGenerator a([] { return std::uint64_t{5'000}; });
    IdGenerator b([] { return std::uint64_t{5'000}; });
    EXPECT_NE(a.Next("txn"), b.Next("txn"));
}

TEST(IdGenerator, IsUniqueAcrossThreads) {
    IdGenerator ids([] { return std::uint64_t{1'700'000'000'000}; });
    constexpr int kThreads = 4;
    constexpr int kPerThread = 2'500;
    std::vector<std::vector<std::string>> made(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&ids, &made, t] {
            for (int i = 0; i < kPerThread; ++i) made[t].push_back(ids.Next("txn"));
        });
    }
    for (auto& thread : threads) thread.join();
    std::set<std::string> all;
    for (const auto& list : made) {
        // Each thread sees its own ids increase.
        EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
        all.insert(list.begin(), list.end());
    }
    EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST(IsGeneratedId, AcceptsGeneratedShape) {
    EXPECT_TRUE(IsGeneratedId("txn_01ARZ3NDEKTSV4RRFFQ69G5FAV", "txn"));
    EXPECT_TRUE(IsGeneratedId("txn_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "txn"));
    EXPECT_TRUE(IsGeneratedId("txn_00000000000000000000000000", "txn"));
}

TEST(IsGeneratedId, RejectsWrongPrefix) {
    EXPECT_FALSE(IsGeneratedId("acct_01ARZ3NDEKTSV4RRFFQ69G5FAV", "txn"));
    EXPECT_FALSE(IsGeneratedId("txn_01ARZ3NDEKTSV4RRFFQ69G5FAV", "acct"));
    EXPECT_FALSE(IsGeneratedId("TXN_01ARZ3NDEKTSV4RRFFQ69G5FAV", "txn"));
    EXPECT_FALSE(IsGeneratedId("txn_01ARZ3NDEKTSV4RRFFQ69G5FAV", "tx"));
}

TEST(IsGeneratedId, RejectsMissingSeparator) {
    EXPECT_FALSE(IsGeneratedId("txn-01ARZ3NDEKTSV4RRFFQ69G5FAV", "txn"));
    EXPECT_FALSE(IsGeneratedId("txnX01ARZ3NDEKTSV4RRFFQ69G5FAV", "txn"));
}

TEST(IsGeneratedId, RejectsWrongLength) {
    EXPECT_FALSE(IsGeneratedId("", "txn"));
    EXPECT_FALSE(IsGeneratedId("txn_", "txn"));
    EXPECT_FALSE(IsGeneratedId("txn_01ARZ3NDEKTSV4RRFFQ69G5FA", "txn"));
    EXPECT_FALSE(IsGeneratedId("txn_01ARZ3NDEKTSV4RRFFQ69G5FAVV", "txn"));
}

TEST(IsGeneratedId, RejectsCharactersOutsideCrockfordUpperCase) {
    EXPECT_FALSE(IsGeneratedId("txn_01arz3ndektsv4rrffq69g5fav", "txn"));
    for (char c : {'I', 'L', 'O', 'U', '-', '_', ' '}) {
        std::string id = "txn_01ARZ3NDEKTSV4RRFFQ69G5FAV";
        id.back() = c;
        EXPECT_FALSE(IsGeneratedId(id, "txn")) << id;
    }
}

TEST(IsGeneratedId, RejectsFirstCharacterAbove7) {
    // The first character holds the top 3 bits of 128.
    EXPECT_FALSE(IsGeneratedId("txn_81ARZ3NDEKTSV4RRFFQ69G5FAV", "txn"));
    EXPECT_FALSE(IsGeneratedId("txn_Z1ARZ3NDEKTSV4RRFFQ69G5FAV", "txn"));
}

TEST(RandomHex, HasTwoLowerCaseHexCharactersPerByte) {
    for (std::size_t bytes : {std::size_t{1}, std::size_t{16}, std::size_t{32}, std::size_t{257}}) {
        std::string hex = RandomHex(bytes);
        EXPECT_EQ(hex.size(), bytes * 2);
        EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << hex;
    }
}

TEST(RandomHex, ZeroBytesIsEmpty) { EXPECT_EQ(RandomHex(0), ""); }

TEST(RandomHex, DiffersBetweenCalls) {
    std::set<std::string> seen;
    for (int i = 0; i < 1'000; ++i) EXPECT_TRUE(seen.insert(RandomHex(16)).second);
}

TEST(RandomHex, UsesEveryHexDigit) {
    std::string hex = RandomHex(1'024);
    for (char c : std::string_view("0123456789abcdef")) {
        EXPECT_NE(hex.find(c), std::string::npos) << c;
    }
}

}  // namespace
}  // namespace commons
