// The webhook service's readers of text from outside (webhook/domain/policy.hpp).
//   - ParseRetryAfterSeconds (a receiver's Retry-After header) accepts exactly 1 to 10 digits
//     between optional spaces and tabs, with their value; DecideRetry then never schedules a
//     throttled retry earlier than the schedule nor later than the bound past now.
//   - Event types and endpoint filters: a valid type is also a valid pattern and matches itself;
//     "*" matches it; "<prefix>.*" is a valid pattern matching it for each proper prefix of
//     whole segments and never matches the prefix itself; a pattern never matches an invalid
//     type's mirror image ("x" with "x.*").

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "check.hpp"
#include "webhook/domain/policy.hpp"

namespace {

namespace domain = webhook::domain;

std::optional<std::int64_t> ReferenceRetryAfter(std::string_view value) {
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    while (!value.empty() && blank(value.front())) value.remove_prefix(1);
    while (!value.empty() && blank(value.back())) value.remove_suffix(1);
    if (value.empty() || value.size() > 10) return std::nullopt;
    std::int64_t seconds = 0;
    for (char c : value) {
        if (c < '0' || c > '9') return std::nullopt;
        seconds = seconds * 10 + (c - '0');
    }
    return seconds;
}

void CheckRetryAfter(std::string_view value) {
    const auto seconds = domain::ParseRetryAfterSeconds(value);
    FUZZ_CHECK_WITH(seconds == ReferenceRetryAfter(value), value);
    if (!seconds) return;
    FUZZ_CHECK(*seconds >= 0);
    const auto schedule = domain::RetrySchedule::Default();
    constexpr domain::Micros kNow = 1'700'000'000'000'000;
    const std::chrono::milliseconds bound = std::chrono::hours(1);
    const auto plain = domain::DecideRetry(schedule, 1, kNow, 0.5, domain::AttemptOutcome::kFailed,
                                           std::nullopt, bound);
    const auto throttled = domain::DecideRetry(schedule, 1, kNow, 0.5,
                                               domain::AttemptOutcome::kThrottled, seconds, bound);
    FUZZ_CHECK(!plain.final && !throttled.final);
    FUZZ_CHECK(throttled.next_attempt >= plain.next_attempt);
    FUZZ_CHECK(throttled.next_attempt <=
               std::max(plain.next_attempt, kNow + 3600 * domain::kMicrosPerSecond));
}

void CheckEventType(std::string_view text) {
    const bool type = domain::IsValidEventType(text);
    const bool pattern = domain::IsValidEventTypePattern(text);
    if (type) {
        FUZZ_CHECK(pattern);
        FUZZ_CHECK(domain::EventTypeMatches(text, text));
        FUZZ_CHECK(domain::EventTypeMatches("*", text));
        FUZZ_CHECK(text.size() <= domain::kEventTypeBytesMax);
        for (std::size_t dot = text.find('.'); dot != std::string_view::npos;
             dot = text.find('.', dot + 1)) {
            const std::string prefix_pattern = std::string(text.substr(0, dot)) + ".*";
            FUZZ_CHECK_WITH(domain::IsValidEventTypePattern(prefix_pattern), prefix_pattern);
            FUZZ_CHECK_WITH(domain::EventTypeMatches(prefix_pattern, text), prefix_pattern);
            FUZZ_CHECK_WITH(!domain::EventTypeMatches(prefix_pattern, text.substr(0, dot)),
                            prefix_pattern);
        }
    }
    if (pattern && text != "*" && !text.ends_with(".*")) FUZZ_CHECK_WITH(type, text);
    // A pattern matches no type it is a proper prefix of without the dot: "payin.*" never
    // takes "payinx.y" or "payin".
    if (pattern && text.ends_with(".*")) {
        const std::string_view prefix = text.substr(0, text.size() - 2);
        FUZZ_CHECK(!domain::EventTypeMatches(text, prefix));
        FUZZ_CHECK(!domain::EventTypeMatches(text, std::string(prefix) + "x.y"));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    CheckRetryAfter(input);
    CheckEventType(input);
    return 0;
}
