#include "webhook/domain/policy.hpp"

#include <gtest/gtest.h>

namespace webhook::domain {
namespace {

using namespace std::chrono_literals;

constexpr Micros kNow = 1'700'000'000LL * kMicrosPerSecond;
constexpr Micros kSecond = kMicrosPerSecond;

TEST(EventTypes, ValidatesTypesAndPatterns) {
    EXPECT_TRUE(IsValidEventType("ledger.transaction.posted"));
    EXPECT_TRUE(IsValidEventType("payin.refund_2.created"));
    EXPECT_FALSE(IsValidEventType("ledger"));
    EXPECT_FALSE(IsValidEventType("Ledger.posted"));
    EXPECT_FALSE(IsValidEventType("ledger..posted"));
    EXPECT_FALSE(IsValidEventType("ledger.posted."));
    EXPECT_FALSE(IsValidEventType(std::string(kEventTypeBytesMax, 'a') + ".b"));
    EXPECT_TRUE(IsValidEventTypePattern("*"));
    EXPECT_TRUE(IsValidEventTypePattern("payin.*"));
    EXPECT_TRUE(IsValidEventTypePattern("payin.refund.*"));
    EXPECT_TRUE(IsValidEventTypePattern("ledger.transaction.posted"));
    EXPECT_FALSE(IsValidEventTypePattern("payin*"));
    EXPECT_FALSE(IsValidEventTypePattern(".*"));
    EXPECT_FALSE(IsValidEventTypePattern("payin.*.created"));
    EXPECT_FALSE(IsValidEventTypePattern(""));
}

TEST(EventTypes, MatchesExactPrefixAndEverything) {
    EXPECT_TRUE(EventTypeMatches("*", "ledger.transaction.posted"));
    EXPECT_TRUE(EventTypeMatches("payin.*", "payin.payment_intent.succeeded"));
    EXPECT_TRUE(EventTypeMatches("payin.*", "payin.refund"));
    EXPECT_FALSE(EventTypeMatches("payin.*", "payinx.refund"));
    EXPECT_FALSE(EventTypeMatches("payin.*", "payin"));
    EXPECT_TRUE(EventTypeMatches("ledger.transaction.posted", "ledger.transaction.posted"));
    EXPECT_FALSE(EventTypeMatches("ledger.transaction.posted", "ledger.transaction.voided"));
    EXPECT_TRUE(EventTypeMatchesAny({"payout.*", "ledger.transaction.posted"},
                                    "ledger.transaction.posted"));
    EXPECT_FALSE(EventTypeMatchesAny({}, "ledger.transaction.posted"));
}

TEST(RetrySchedule, DefaultIsTheDocumentedTenAttempts) {
    auto schedule = RetrySchedule::Default();
    ASSERT_EQ(schedule.attempts(), 10u);
    EXPECT_EQ(schedule.delays[0], 0ms);
    EXPECT_EQ(schedule.delays[1], 5s);
    EXPECT_EQ(schedule.delays[2], 5min);
    EXPECT_EQ(schedule.delays[9], 24h);
    auto parsed = RetrySchedule::Parse("0s,5s,5m,30m,2h,5h,10h,14h,20h,24h");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->delays, schedule.delays);
}

TEST(RetrySchedule, ParseRefusesWhatIsNotAListOfDurations) {
    EXPECT_FALSE(RetrySchedule::Parse(""));
    EXPECT_FALSE(RetrySchedule::Parse("5s,,5m"));
    EXPECT_FALSE(RetrySchedule::Parse("5 seconds"));
    EXPECT_FALSE(RetrySchedule::Parse("8d"));
    EXPECT_FALSE(RetrySchedule::Parse("200h"));
    std::string long_list = "1s";
    for (int i = 0; i < 50; ++i) long_list += ",1s";
    EXPECT_FALSE(RetrySchedule::Parse(long_list));
    auto spaced = RetrySchedule::Parse("0s, 1s ,2s");
    ASSERT_TRUE(spaced);
    EXPECT_EQ(spaced->attempts(), 3u);
}

TEST(RetrySchedule, JitterStaysWithinTwentyPercentBothWays) {
    auto schedule = RetrySchedule::Default();
    // Step 2 is 5 minutes: 240 s to 360 s.
    EXPECT_EQ(*NextAttemptAt(schedule, 2, kNow, 0.0), kNow + 240 * kSecond);
    EXPECT_EQ(*NextAttemptAt(schedule, 2, kNow, 0.5), kNow + 300 * kSecond);
    auto high = *NextAttemptAt(schedule, 2, kNow, 0.999999);
    EXPECT_GT(high, kNow + 359 * kSecond);
    EXPECT_LE(high, kNow + 360 * kSecond);
    // The immediate first attempt stays immediate.
    EXPECT_EQ(*NextAttemptAt(schedule, 0, kNow, 0.9), kNow);
    EXPECT_FALSE(NextAttemptAt(schedule, 10, kNow, 0.5));
}

TEST(RetryDecision, FailuresFollowTheScheduleUntilItRunsOut) {
    auto schedule = RetrySchedule::Default();
    // After the first attempt failed, the second comes 5 s later.
    auto second = DecideRetry(schedule, 1, kNow, 0.5, AttemptOutcome::kFailed, std::nullopt, 1h);
    EXPECT_FALSE(second.final);
    EXPECT_EQ(second.next_attempt, kNow + 5 * kSecond);
    auto last = DecideRetry(schedule, 9, kNow, 0.5, AttemptOutcome::kFailed, std::nullopt, 1h);
    EXPECT_FALSE(last.final);
    EXPECT_EQ(last.next_attempt, kNow + 24 * 3600 * kSecond);
    EXPECT_TRUE(DecideRetry(schedule, 10, kNow, 0.5, AttemptOutcome::kFailed, {}, 1h).final);
    EXPECT_TRUE(DecideRetry(schedule, 1, kNow, 0.5, AttemptOutcome::kSucceeded, {}, 1h).final);
    EXPECT_TRUE(DecideRetry(schedule, 1, kNow, 0.5, AttemptOutcome::kGone, {}, 1h).final);
}

TEST(RetryDecision, RetryAfterDelaysWithinTheBoundAndNeverHastens) {
    auto schedule = RetrySchedule::Default();
    auto later = DecideRetry(schedule, 1, kNow, 0.5, AttemptOutcome::kThrottled, 120, 1h);
    EXPECT_EQ(later.next_attempt, kNow + 120 * kSecond);
    // A Retry-After shorter than the schedule does not bring the retry forward.
    auto sooner = DecideRetry(schedule, 2, kNow, 0.5, AttemptOutcome::kThrottled, 1, 1h);
    EXPECT_EQ(sooner.next_attempt, kNow + 300 * kSecond);
    // Beyond the bound it is capped.
    auto capped =
        DecideRetry(schedule, 1, kNow, 0.5, AttemptOutcome::kThrottled, 9'999'999'999, 1h);
    EXPECT_EQ(capped.next_attempt, kNow + 3600 * kSecond);
    // Only throttling answers carry it.
    auto plain = DecideRetry(schedule, 1, kNow, 0.5, AttemptOutcome::kFailed, 120, 1h);
    EXPECT_EQ(plain.next_attempt, kNow + 5 * kSecond);
}

TEST(RetryAfter, ParsesDeltaSecondsOnly) {
    EXPECT_EQ(ParseRetryAfterSeconds("120"), 120);
    EXPECT_EQ(ParseRetryAfterSeconds(" 7 "), 7);
    EXPECT_FALSE(ParseRetryAfterSeconds("Wed, 21 Oct 2015 07:28:00 GMT"));
    EXPECT_FALSE(ParseRetryAfterSeconds("-1"));
    EXPECT_FALSE(ParseRetryAfterSeconds(""));
    EXPECT_FALSE(ParseRetryAfterSeconds("99999999999"));
}

TEST(Outcomes, OnlyTwoHundredsSucceed) {
    EXPECT_EQ(ClassifyStatus(200), AttemptOutcome::kSucceeded);
    EXPECT_EQ(ClassifyStatus(204), AttemptOutcome::kSucceeded);
    EXPECT_EQ(ClassifyStatus(299), AttemptOutcome::kSucceeded);
    EXPECT_EQ(ClassifyStatus(301), AttemptOutcome::kFailed);
    EXPECT_EQ(ClassifyStatus(400), AttemptOutcome::kFailed);
    EXPECT_EQ(ClassifyStatus(500), AttemptOutcome::kFailed);
    EXPECT_EQ(ClassifyStatus(410), AttemptOutcome::kGone);
    EXPECT_EQ(ClassifyStatus(429), AttemptOutcome::kThrottled);
    EXPECT_EQ(ClassifyStatus(503), AttemptOutcome::kThrottled);
    EXPECT_EQ(ClassifyStatus(std::nullopt), AttemptOutcome::kFailed);
}

TEST(Health, CircuitOpensAtTheThresholdThenProbesWithDoublingCooldown) {
    HealthPolicy policy;
    policy.circuit_failures = 3;
    policy.circuit_cooldown = 10s;
    policy.circuit_cooldown_max = 35s;
    EndpointHealth health;
    Micros now = kNow;
    for (int i = 0; i < 2; ++i) {
        health = ApplyOutcome(health, AttemptOutcome::kFailed, now, policy).health;
        EXPECT_EQ(InFlightAllowed(health, now, policy, 8), 8);
    }
    EXPECT_EQ(health.failing_since, kNow);
    health = ApplyOutcome(health, AttemptOutcome::kFailed, now, policy).health;
    ASSERT_TRUE(health.circuit_open_until);
    EXPECT_EQ(*health.circuit_open_until, now + 10 * kSecond);
    EXPECT_EQ(InFlightAllowed(health, now + 9 * kSecond, policy, 8), 0);
    // Half-open: one probe at a time.
    now += 10 * kSecond;
    EXPECT_EQ(InFlightAllowed(health, now, policy, 8), 1);
    health = ApplyOutcome(health, AttemptOutcome::kFailed, now, policy).health;
    EXPECT_EQ(*health.circuit_open_until, now + 20 * kSecond);
    health = ApplyOutcome(health, AttemptOutcome::kFailed, now, policy).health;
    EXPECT_EQ(*health.circuit_open_until, now + 35 * kSecond);  // capped
    // One success closes it and forgets the run of failures.
    health = ApplyOutcome(health, AttemptOutcome::kSucceeded, now, policy).health;
    EXPECT_EQ(health.consecutive_failures, 0);
    EXPECT_FALSE(health.failing_since);
    EXPECT_FALSE(health.circuit_open_until);
    EXPECT_EQ(InFlightAllowed(health, now, policy, 8), 8);
}

TEST(Health, DisablesAfterFiveDaysOfContinuousFailureOrAtOnceOnGone) {
    HealthPolicy policy;
    EndpointHealth health;
    auto change = ApplyOutcome(health, AttemptOutcome::kFailed, kNow, policy);
    EXPECT_EQ(change.disable, DisableReason::kNone);
    const Micros almost = kNow + 5 * 24 * 3600 * kSecond - 1;
    change = ApplyOutcome(change.health, AttemptOutcome::kFailed, almost, policy);
    EXPECT_EQ(change.disable, DisableReason::kNone);
    change = ApplyOutcome(change.health, AttemptOutcome::kThrottled, almost + 1, policy);
    EXPECT_EQ(change.disable, DisableReason::kFailing);
    // A success in between starts the run again.
    auto reset = ApplyOutcome(EndpointHealth{.consecutive_failures = 3, .failing_since = kNow},
                              AttemptOutcome::kSucceeded, almost, policy);
    change = ApplyOutcome(reset.health, AttemptOutcome::kFailed, almost + 1, policy);
    EXPECT_EQ(change.disable, DisableReason::kNone);
    EXPECT_EQ(ApplyOutcome({}, AttemptOutcome::kGone, kNow, policy).disable, DisableReason::kGone);
}

TEST(TokenBucket, StartsFullRefillsWithTimeAndNeverExceedsOneSecond) {
    TokenBucket bucket;
    EXPECT_EQ(TakeTokens(bucket, 10, kNow, 25), 10);
    EXPECT_EQ(TakeTokens(bucket, 10, kNow, 5), 0);
    EXPECT_EQ(TakeTokens(bucket, 10, kNow + kSecond / 2, 25), 5);
    EXPECT_EQ(TakeTokens(bucket, 10, kNow + kSecond / 2 + kSecond / 20, 25), 0);  // half a token
    EXPECT_EQ(TakeTokens(bucket, 10, kNow + kSecond / 2 + kSecond / 10, 25), 1);
    EXPECT_EQ(TakeTokens(bucket, 10, kNow + 3600 * kSecond, 1000), 10);
    // A clock that steps back takes nothing extra.
    EXPECT_EQ(TakeTokens(bucket, 10, kNow, 10), 0);
}

}  // namespace
}  // namespace webhook::domain
