#include "commons/config.hpp"

#include <charconv>
#include <cstdlib>

namespace commons {
namespace {

std::string Quote(std::string_view value) {
    constexpr std::size_t kShownCharsMax = 64;
    std::string shown(value.substr(0, kShownCharsMax));
    if (value.size() > kShownCharsMax) shown += "...";
    return "\"" + shown + "\"";
}

std::optional<std::int64_t> ParseInt(std::string_view text) {
    std::int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

}  // namespace

std::optional<std::string> ProcessEnvironment::Get(std::string_view name) const {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
}

std::optional<std::string> MapEnvironment::Get(std::string_view name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

ConfigError::ConfigError(std::string variable, const std::string& problem)
    : std::runtime_error(variable + ": " + problem), variable_(std::move(variable)) {}

std::optional<std::string> EnvReader::Find(std::string_view name) const {
    auto value = env_.Get(name);
    if (!value || value->empty()) return std::nullopt;
    return value;
}

std::string EnvReader::RequiredString(std::string_view name) const {
    auto value = Find(name);
    if (!value) throw ConfigError(std::string(name), "is required but not set");
    return *value;
}

std::string EnvReader::String(std::string_view name, std::string_view fallback) const {
    auto value = Find(name);
    return value ? *value : std::string(fallback);
}

std::int64_t EnvReader::Int(std::string_view name, std::int64_t fallback, std::int64_t min,
                            std::int64_t max) const {
    auto text = Find(name);
    if (!text) return fallback;
    auto value = ParseInt(*text);
    if (!value || *value < min || *value > max) {
        throw ConfigError(std::string(name), "expected an integer from " + std::to_string(min) +
                                                 " to " + std::to_string(max) + ", got " +
                                                 Quote(*text));
    }
    return *value;
}

std::uint16_t EnvReader::Port(std::string_view name, std::uint16_t fallback) const {
    return static_cast<std::uint16_t>(Int(name, fallback, 0, 65535));
}

bool EnvReader::Bool(std::string_view name, bool fallback) const {
    auto text = Find(name);
    if (!text) return fallback;
    if (*text == "1" || *text == "true") return true;
    if (*text == "0" || *text == "false") return false;
    throw ConfigError(std::string(name), "expected one of 1, 0, true, false, got " + Quote(*text));
}

std::chrono::milliseconds EnvReader::Duration(std::string_view name,
                                              std::chrono::milliseconds fallback,
                                              std::chrono::milliseconds min,
                                              std::chrono::milliseconds max) const {
    auto text = Find(name);
    if (!text) return fallback;
    auto value = ParseDuration(*text);
    if (!value || *value < min || *value > max) {
        throw ConfigError(std::string(name),
                          "expected a duration such as 250ms, 5s, 2m or 1h from " +
                              std::to_string(min.count()) + "ms to " + std::to_string(max.count()) +
                              "ms, got " + Quote(*text));
    }
    return *value;
}

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0) return std::nullopt;
    auto number = ParseInt(text.substr(0, digits));
    if (!number) return std::nullopt;
    std::string_view unit = text.substr(digits);
    std::int64_t scale = 0;
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
    std::int64_t ms = 0;
    if (__builtin_mul_overflow(*number, scale, &ms)) return std::nullopt;
    return std::chrono::milliseconds(ms);
}

std::string RedactUrl(std::string_view url) {
    auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) return std::string(url);
    auto authority_start = scheme_end + 3;
    // The user-info ends at the last '@' before the path: a password may contain '@'.
    auto authority_end = url.find_first_of("/?#", authority_start);
    if (authority_end == std::string_view::npos) authority_end = url.size();
    auto at = url.rfind('@', authority_end - 1);
    if (at == std::string_view::npos || at < authority_start) return std::string(url);
    auto colon = url.find(':', authority_start);
    if (colon == std::string_view::npos || colon > at) return std::string(url);
    return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

}  // namespace commons
