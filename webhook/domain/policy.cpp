#include "webhook/domain/policy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "commons/config.hpp"
#include "commons/text.hpp"

namespace webhook::domain {

namespace {

bool IsSegment(std::string_view segment) {
    if (segment.empty()) return false;
    return std::all_of(segment.begin(), segment.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

Micros ToMicros(std::chrono::milliseconds duration) {
    return static_cast<Micros>(duration.count()) * 1000;
}

constexpr std::size_t kScheduleStepsMax = 50;
constexpr std::chrono::milliseconds kScheduleDelayMax = std::chrono::hours(24 * 7);

}  // namespace

bool IsValidEventType(std::string_view type) {
    if (type.empty() || type.size() > kEventTypeBytesMax) return false;
    const auto segments = commons::Split(type, '.');
    if (segments.size() < 2) return false;
    return std::all_of(segments.begin(), segments.end(), IsSegment);
}

bool IsValidEventTypePattern(std::string_view pattern) {
    if (pattern == "*") return true;
    if (pattern.size() > 2 && pattern.substr(pattern.size() - 2) == ".*") {
        const auto prefix = pattern.substr(0, pattern.size() - 2);
        const auto segments = commons::Split(prefix, '.');
        return prefix.size() < kEventTypeBytesMax &&
               std::all_of(segments.begin(), segments.end(), IsSegment);
    }
    return IsValidEventType(pattern);
}

bool EventTypeMatches(std::string_view pattern, std::string_view type) {
    if (pattern == "*") return true;
    if (pattern.size() > 2 && pattern.substr(pattern.size() - 2) == ".*") {
        // "payin.*" takes "payin.x" and "payin.x.y", not "payin" or "payinx.y".
        const auto prefix = pattern.substr(0, pattern.size() - 1);  // keeps the dot
        return type.size() > prefix.size() && type.substr(0, prefix.size()) == prefix;
    }
    return pattern == type;
}

bool EventTypeMatchesAny(const std::vector<std::string>& patterns, std::string_view type) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& pattern) { return EventTypeMatches(pattern, type); });
}

RetrySchedule RetrySchedule::Default() {
    using namespace std::chrono;
    return {{0ms, seconds(5), minutes(5), minutes(30), hours(2), hours(5), hours(10), hours(14),
             hours(20), hours(24)}};
}

std::optional<RetrySchedule> RetrySchedule::Parse(std::string_view text) {
    RetrySchedule schedule;
    for (std::string_view piece : commons::Split(text, ',')) {
        while (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
        while (!piece.empty() && piece.back() == ' ') piece.remove_suffix(1);
        auto delay = commons::ParseDuration(piece);
        if (!delay || delay->count() < 0 || *delay > kScheduleDelayMax) return std::nullopt;
        schedule.delays.push_back(*delay);
        if (schedule.delays.size() > kScheduleStepsMax) return std::nullopt;
    }
    return schedule;
}

std::optional<Micros> NextAttemptAt(const RetrySchedule& schedule, std::size_t next_step,
                                    Micros now, double unit_random) {
    if (next_step >= schedule.delays.size()) return std::nullopt;
    const auto base = static_cast<double>(ToMicros(schedule.delays[next_step]));
    const double factor = 1.0 + kRetryJitter * (2.0 * std::clamp(unit_random, 0.0, 1.0) - 1.0);
    return now + static_cast<Micros>(std::llround(base * factor));
}

std::optional<std::int64_t> ParseRetryAfterSeconds(std::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.empty() || value.size() > 10) return std::nullopt;
    std::int64_t seconds = 0;
    for (char c : value) {
        if (c < '0' || c > '9') return std::nullopt;
        seconds = seconds * 10 + (c - '0');
    }
    return seconds;
}

AttemptOutcome ClassifyStatus(std::optional<int> status) {
    if (!status) return AttemptOutcome::kFailed;
    if (*status >= 200 && *status <= 299) return AttemptOutcome::kSucceeded;
    if (*status == 410) return AttemptOutcome::kGone;
    if (*status == 429 || *status == 503) return AttemptOutcome::kThrottled;
    return AttemptOutcome::kFailed;
}

RetryDecision DecideRetry(const RetrySchedule& schedule, std::size_t next_step, Micros now,
                          double unit_random, AttemptOutcome outcome,
                          std::optional<std::int64_t> retry_after_seconds,
                          std::chrono::milliseconds retry_after_max) {
    if (outcome == AttemptOutcome::kSucceeded || outcome == AttemptOutcome::kGone) {
        return {.final = true};
    }
    auto next = NextAttemptAt(schedule, next_step, now, unit_random);
    if (!next) return {.final = true};
    if (outcome == AttemptOutcome::kThrottled && retry_after_seconds) {
        const Micros bound = ToMicros(retry_after_max);
        const Micros wanted = *retry_after_seconds > bound / kMicrosPerSecond
                                  ? bound
                                  : *retry_after_seconds * kMicrosPerSecond;
        *next = std::max(*next, now + wanted);
    }
    return {.final = false, .next_attempt = *next};
}

HealthChange ApplyOutcome(const EndpointHealth& health, AttemptOutcome outcome, Micros now,
                          const HealthPolicy& policy) {
    HealthChange change{health, DisableReason::kNone};
    EndpointHealth& next = change.health;
    if (outcome == AttemptOutcome::kSucceeded) {
        next = EndpointHealth{};
        return change;
    }
    if (next.consecutive_failures < std::numeric_limits<std::int32_t>::max()) {
        ++next.consecutive_failures;
    }
    if (!next.failing_since) next.failing_since = now;
    if (outcome == AttemptOutcome::kGone) {
        change.disable = DisableReason::kGone;
    } else if (now - *next.failing_since >= ToMicros(policy.disable_after)) {
        change.disable = DisableReason::kFailing;
    }
    if (next.consecutive_failures >= policy.circuit_failures) {
        // Opened at the threshold, then doubled by every failed probe after it.
        const std::int32_t doublings =
            std::min(next.consecutive_failures - policy.circuit_failures, 30);
        const Micros cooldown = std::min(ToMicros(policy.circuit_cooldown) << doublings,
                                         ToMicros(policy.circuit_cooldown_max));
        next.circuit_open_until = now + cooldown;
    }
    return change;
}

std::int32_t InFlightAllowed(const EndpointHealth& health, Micros now, const HealthPolicy& policy,
                             std::int32_t max_in_flight) {
    if (health.consecutive_failures < policy.circuit_failures) return max_in_flight;
    if (health.circuit_open_until && now < *health.circuit_open_until) return 0;
    return std::min(max_in_flight, 1);
}

std::int32_t TakeTokens(TokenBucket& bucket, std::int32_t rate_per_second, Micros now,
                        std::int32_t wanted) {
    const auto capacity = static_cast<double>(rate_per_second);
    if (bucket.updated == 0) {
        bucket.tokens = capacity;
    } else if (now > bucket.updated) {
        const double elapsed = static_cast<double>(now - bucket.updated) / kMicrosPerSecond;
        bucket.tokens = std::min(capacity, bucket.tokens + elapsed * capacity);
    }
    bucket.updated = std::max(bucket.updated, now);
    const auto whole = static_cast<std::int32_t>(std::floor(bucket.tokens));
    const std::int32_t taken = std::max(0, std::min(whole, wanted));
    bucket.tokens -= taken;
    return taken;
}

}  // namespace webhook::domain
