#pragma once

// The delivery engine's decisions, pure (no I/O, no clock, no randomness of their own): which
// endpoints an event goes to, when a failed delivery is tried again, what a response means,
// how many deliveries an endpoint may take now, and when its circuit opens or it is disabled.
// Times are microseconds since the Unix epoch, always passed in, so tests drive them.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace webhook::domain {

using Micros = std::int64_t;
inline constexpr Micros kMicrosPerSecond = 1'000'000;

// ---- Event types and endpoint filters ----

inline constexpr std::size_t kEventTypeBytesMax = 128;
inline constexpr std::size_t kEventTypePatternsMax = 100;

// An event type: dot-separated segments of [a-z0-9_], at least two ("ledger.transaction.posted").
bool IsValidEventType(std::string_view type);

// A filter of an endpoint: an event type, "<prefix>.*" (every type under the prefix, at any
// depth: "payin.*" takes "payin.refund.created"), or "*" (every type).
bool IsValidEventTypePattern(std::string_view pattern);

bool EventTypeMatches(std::string_view pattern, std::string_view type);
bool EventTypeMatchesAny(const std::vector<std::string>& patterns, std::string_view type);

// ---- Retry schedule ----

// The delay before each attempt, the first one included: the default is Svix's and Stripe's
// shape, "0s,5s,5m,30m,2h,5h,10h,14h,20h,24h" (10 attempts over about 3.3 days).
struct RetrySchedule {
    std::vector<std::chrono::milliseconds> delays;

    static RetrySchedule Default();
    // Comma-separated durations ("0s,5s,5m"); nullopt when empty, malformed, negative, longer
    // than 50 steps, or a single delay over 7 days.
    static std::optional<RetrySchedule> Parse(std::string_view text);
    std::size_t attempts() const { return delays.size(); }
};

// ±20% jitter, so endpoints recovering from an outage are not hit by every retry at once.
inline constexpr double kRetryJitter = 0.2;

// When attempt number `next_step` (0-based index into the schedule) should run, given that the
// previous one ended at `now`. `unit_random` is uniform in [0, 1) (injected: tests pass fixed
// values). nullopt when the schedule is exhausted: the delivery has finally failed.
std::optional<Micros> NextAttemptAt(const RetrySchedule& schedule, std::size_t next_step,
                                    Micros now, double unit_random);

// Seconds from a Retry-After header: delta-seconds only (an HTTP date is ignored, as most
// senders of 429/503 use seconds). nullopt when absent or not a whole number of seconds.
std::optional<std::int64_t> ParseRetryAfterSeconds(std::string_view value);

// ---- What an attempt's outcome means ----

enum class AttemptOutcome {
    kSucceeded,  // 2xx
    kFailed,     // anything else: other statuses (3xx included: redirects are not followed),
                 // timeouts, refused connections, TLS failures, forbidden addresses
    kGone,       // 410: the receiver says the endpoint no longer exists; it is disabled
    kThrottled,  // 429 or 503: a failure whose Retry-After is honoured (within a bound)
};

// nullopt status: no HTTP response (connection or timeout failure).
AttemptOutcome ClassifyStatus(std::optional<int> status);

struct RetryDecision {
    bool final = false;       // no attempt left: the delivery has failed
    Micros next_attempt = 0;  // when !final
};

// The next attempt after a failed one that ended at `now`, `next_step` being the schedule index
// of the attempt to come. A throttled answer's Retry-After pushes the next attempt later, never
// earlier, and never more than `retry_after_max` past now.
RetryDecision DecideRetry(const RetrySchedule& schedule, std::size_t next_step, Micros now,
                          double unit_random, AttemptOutcome outcome,
                          std::optional<std::int64_t> retry_after_seconds,
                          std::chrono::milliseconds retry_after_max);

// ---- Per-endpoint health: circuit breaker and automatic disabling ----

struct HealthPolicy {
    // Consecutive failures that open the circuit: the endpoint is then left alone for the
    // cooldown, and afterwards one probe at a time is sent until one succeeds.
    std::int32_t circuit_failures = 10;
    std::chrono::milliseconds circuit_cooldown{std::chrono::seconds(30)};
    // Each failed probe doubles the cooldown, up to this.
    std::chrono::milliseconds circuit_cooldown_max{std::chrono::minutes(10)};
    // An endpoint failing continuously for this long is disabled.
    std::chrono::milliseconds disable_after{std::chrono::hours(24 * 5)};
};

struct EndpointHealth {
    std::int32_t consecutive_failures = 0;
    std::optional<Micros> failing_since;       // first failure of the current run of failures
    std::optional<Micros> circuit_open_until;  // no attempts before this
};

enum class DisableReason { kNone, kGone, kFailing };

struct HealthChange {
    EndpointHealth health;
    DisableReason disable = DisableReason::kNone;
};

// One finished attempt applied to an endpoint's health. Outcomes of one endpoint are applied in
// the order the attempts ended.
HealthChange ApplyOutcome(const EndpointHealth& health, AttemptOutcome outcome, Micros now,
                          const HealthPolicy& policy);

// Deliveries the endpoint may have in flight now: 0 while the circuit is open, 1 (a probe) while
// it is half-open, else its own bound.
std::int32_t InFlightAllowed(const EndpointHealth& health, Micros now, const HealthPolicy& policy,
                             std::int32_t max_in_flight);

// ---- Per-endpoint rate limit: a token bucket holding at most one second of tokens ----

struct TokenBucket {
    double tokens = 0;
    Micros updated = 0;
};

// Refills `bucket` for the time since it was last updated (a new bucket, updated == 0, starts
// full) and takes up to `wanted` whole tokens. Returns how many were taken.
std::int32_t TakeTokens(TokenBucket& bucket, std::int32_t rate_per_second, Micros now,
                        std::int32_t wanted);

}  // namespace webhook::domain
