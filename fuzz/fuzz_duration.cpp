// Durations (commons::ParseDuration, commons/config.hpp) and the webhook retry schedule built
// from them (webhook::domain::RetrySchedule::Parse).
//   - ParseDuration accepts exactly digits followed by ms, s, m or h whose value in milliseconds
//     fits int64 (checked against 128-bit arithmetic), and gives that value.
//   - An accepted duration written back as "<milliseconds>ms" parses to the same value.
//   - An accepted retry schedule has 1 to 50 delays, each from 0 to 7 days.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "check.hpp"
#include "commons/config.hpp"
#include "webhook/domain/policy.hpp"

namespace {

__extension__ using Wide = __int128;

std::optional<std::int64_t> ReferenceMilliseconds(std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0) return std::nullopt;
    const std::string_view unit = text.substr(digits);
    Wide scale = 0;
    if (unit == "ms") {
        scale = 1;
    } else if (unit == "s") {
        scale = 1000;
    } else if (unit == "m") {
        scale = 60'000;
    } else if (unit == "h") {
        scale = 3'600'000;
    } else {
        return std::nullopt;
    }
    Wide value = 0;
    for (std::size_t i = 0; i < digits; ++i) {
        value = value * 10 + (text[i] - '0');
        if (value > std::numeric_limits<std::int64_t>::max()) return std::nullopt;
    }
    value *= scale;
    if (value > std::numeric_limits<std::int64_t>::max()) return std::nullopt;
    return static_cast<std::int64_t>(value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    const auto parsed = commons::ParseDuration(text);
    const auto expected = ReferenceMilliseconds(text);
    FUZZ_CHECK_WITH(parsed.has_value() == expected.has_value(), text);
    if (parsed) {
        FUZZ_CHECK_WITH(parsed->count() == *expected, text);
        const auto again = commons::ParseDuration(std::to_string(parsed->count()) + "ms");
        FUZZ_CHECK(again && *again == *parsed);
    }

    if (auto schedule = webhook::domain::RetrySchedule::Parse(text)) {
        FUZZ_CHECK(schedule->attempts() >= 1 && schedule->attempts() <= 50);
        for (auto delay : schedule->delays) {
            FUZZ_CHECK(delay.count() >= 0 && delay <= std::chrono::hours(24 * 7));
        }
    }
    return 0;
}
