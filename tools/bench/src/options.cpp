#include "bench/options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "commons/text.hpp"

namespace bench {
namespace {

UsageError OutOfRange(std::string_view flag, std::string_view value, std::string_view expected) {
    return UsageError{"--" + std::string(flag) + " " + std::string(value) + ": expected " +
                      std::string(expected)};
}

// Reads a duration flag's value and checks it against [low, high].
commons::Result<std::chrono::nanoseconds, UsageError> DurationValue(std::string_view flag,
                                                                    ArgReader& reader,
                                                                    std::chrono::nanoseconds low,
                                                                    std::chrono::nanoseconds high) {
    auto value = reader.Value();
    if (!value) return value.error();
    auto parsed = ParseDuration(value.value());
    std::string expected = "a duration from " + FormatDuration(low) + " to " +
                           FormatDuration(high) + " such as 500ms, 10s, 2m";
    if (!parsed || *parsed < low || *parsed > high)
        return OutOfRange(flag, value.value(), expected);
    return *parsed;
}

commons::Result<std::uint32_t, UsageError> CountValue(std::string_view flag, ArgReader& reader,
                                                      std::uint32_t low, std::uint32_t high) {
    auto value = reader.Value();
    if (!value) return value.error();
    auto parsed = ParseNumber<std::uint32_t>(value.value());
    if (!parsed || *parsed < low || *parsed > high) {
        return OutOfRange(
            flag, value.value(),
            "a whole number from " + std::to_string(low) + " to " + std::to_string(high));
    }
    return *parsed;
}

}  // namespace

std::string FormatDuration(std::chrono::nanoseconds value) {
    using std::chrono::duration_cast;
    const auto zero = std::chrono::nanoseconds(0);
    if (value == zero) return "0s";
    if (value % std::chrono::hours(1) == zero) {
        return std::to_string(duration_cast<std::chrono::hours>(value).count()) + "h";
    }
    if (value % std::chrono::minutes(1) == zero) {
        return std::to_string(duration_cast<std::chrono::minutes>(value).count()) + "m";
    }
    if (value % std::chrono::seconds(1) == zero) {
        return std::to_string(duration_cast<std::chrono::seconds>(value).count()) + "s";
    }
    if (value % std::chrono::milliseconds(1) == zero) {
        return std::to_string(duration_cast<std::chrono::milliseconds>(value).count()) + "ms";
    }
    return std::to_string(duration_cast<std::chrono::microseconds>(value).count()) + "us";
}

commons::Result<std::string_view, UsageError> ArgReader::NextFlag() {
    std::string_view token = args_[position_++];
    if (!token.starts_with("--") || token.size() == 2) {
        return UsageError{"unexpected argument \"" + std::string(token) +
                          "\"; flags look like --name value"};
    }
    token.remove_prefix(2);
    std::size_t equals = token.find('=');
    if (equals == std::string_view::npos) {
        flag_ = token;
        inline_value_.reset();
    } else {
        flag_ = token.substr(0, equals);
        inline_value_ = token.substr(equals + 1);
    }
    return flag_;
}

commons::Result<std::string_view, UsageError> ArgReader::Value() {
    if (inline_value_) return *inline_value_;
    if (done()) return UsageError{"--" + std::string(flag_) + " needs a value"};
    return args_[position_++];
}

commons::Result<bool, UsageError> ArgReader::NoValue() {
    if (inline_value_) return UsageError{"--" + std::string(flag_) + " takes no value"};
    return true;
}

std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
    struct Unit {
        std::string_view suffix;
        double nanos;
    };
    // "ms" before "m" and "s": the longest suffix that matches wins.
    constexpr Unit kUnits[] = {{"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    for (const Unit& unit : kUnits) {
        if (!text.ends_with(unit.suffix)) continue;
        auto number = ParseNumber<double>(text.substr(0, text.size() - unit.suffix.size()));
        if (!number || !std::isfinite(*number)) return std::nullopt;
        double nanos = *number * unit.nanos;
        // Beyond any limit bench has; refusing here keeps the conversion below defined.
        if (nanos > 1e18) return std::nullopt;
        return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(nanos)));
    }
    return std::nullopt;
}

commons::Result<std::vector<std::string>, UsageError> ParseCpuOf(std::string_view value) {
    constexpr std::size_t kNamesMax = 8;
    constexpr std::size_t kCommBytesMax = 15;
    std::vector<std::string> names;
    if (value == "none") return names;
    for (const std::string_view name : commons::Split(value, ',')) {
        if (name.empty() || name.size() > kCommBytesMax ||
            name.find_first_of("/ \t") != std::string_view::npos) {
            return UsageError{"--cpu-of " + std::string(value) +
                              ": expected none or comma-separated process names of 1 to 15 "
                              "characters, as ps -o comm shows them"};
        }
        if (std::find(names.begin(), names.end(), name) == names.end()) {
            names.emplace_back(name);
        }
    }
    if (names.size() > kNamesMax) {
        return UsageError{"--cpu-of: at most " + std::to_string(kNamesMax) + " process names"};
    }
    return names;
}

commons::Result<bool, UsageError> ParseCommonFlag(std::string_view flag, ArgReader& reader,
                                                  CommonOptions& options) {
    LoadSettings& load = options.load;
    if (flag == "concurrency" || flag == "connections") {
        auto value = CountValue(flag, reader, 1, kConnectionsMax);
        if (!value) return value.error();
        load.connections = value.value();
    } else if (flag == "duration") {
        auto value = DurationValue(flag, reader, std::chrono::milliseconds(100), kDurationMax);
        if (!value) return value.error();
        load.duration = value.value();
    } else if (flag == "warmup") {
        auto value = DurationValue(flag, reader, std::chrono::nanoseconds(0), kWarmupMax);
        if (!value) return value.error();
        load.warmup = value.value();
    } else if (flag == "timeout") {
        auto value = DurationValue(flag, reader, kRequestTimeoutMin, kRequestTimeoutMax);
        if (!value) return value.error();
        load.request_timeout = value.value();
    } else if (flag == "rate") {
        auto value = reader.Value();
        if (!value) return value.error();
        auto rate = ParseNumber<double>(value.value());
        if (!rate || !std::isfinite(*rate) || *rate < kRatePerSecondMin ||
            *rate > kRatePerSecondMax) {
            return OutOfRange(flag, value.value(), "requests per second from 0.01 to 1000000");
        }
        load.rate_per_second = *rate;
    } else if (flag == "threads") {
        auto value = CountValue(flag, reader, 1, kThreadsMax);
        if (!value) return value.error();
        load.threads = value.value();
    } else if (flag == "json") {
        auto value = reader.NoValue();
        if (!value) return value.error();
        options.format = OutputFormat::kJson;
    } else if (flag == "label") {
        auto value = reader.Value();
        if (!value) return value.error();
        options.label = std::string(value.value());
    } else if (flag == "seed") {
        auto value = reader.Value();
        if (!value) return value.error();
        auto seed = ParseNumber<std::uint64_t>(value.value());
        if (!seed) return OutOfRange(flag, value.value(), "an unsigned 64-bit integer");
        options.seed = *seed;
    } else {
        return false;
    }
    return true;
}

std::string_view CommonFlagsHelp() {
    return R"(load shape:
  --concurrency N   connections (closed model), or most in flight with --rate    [16, max 10000]
  --duration D      measured time after the warm-up, e.g. 10s, 2m                 [10s, max 1h]
  --warmup D        load applied before measuring, not counted                    [1s, max 10m]
  --rate R          open model: offer R requests/s on a fixed schedule; latency counts from
                    each request's scheduled time; a request due while all connections are
                    busy is dropped and counted as such                           [closed model]
  --timeout D       per request: connect, write and read                          [5s, max 5m]
  --threads N       threads, each with an io_context and its share of connections [1, max 64]
output:
  --json            print one JSON object instead of text
  --label NAME      name this run in the report
  --seed N          seed for {{rand:A:B}} (printed; random if not given)
)";
}

commons::Result<HttpCommand, UsageError> ParseHttpCommand(std::span<const std::string_view> args) {
    HttpCommand command;
    bool method_given = false;
    ArgReader reader(args);
    while (!reader.done()) {
        auto flag_result = reader.NextFlag();
        if (!flag_result) return flag_result.error();
        std::string_view flag = flag_result.value();
        if (flag == "help") {
            command.help = true;
            return command;
        }
        auto common = ParseCommonFlag(flag, reader, command.common);
        if (!common) return common.error();
        if (common.value()) continue;

        if (flag == "header") {
            auto value = reader.Value();
            if (!value) return value.error();
            if (command.headers.size() >= kHeadersMax) {
                return UsageError{"at most " + std::to_string(kHeadersMax) + " --header flags"};
            }
            command.headers.emplace_back(value.value());
            continue;
        }
        auto value = reader.Value();
        if (!value) return value.error();
        if (flag == "url") {
            command.url = std::string(value.value());
        } else if (flag == "method") {
            command.method = std::string(value.value());
            method_given = true;
        } else if (flag == "body") {
            if (value.value().size() > kBodyBytesMax) {
                return UsageError{"--body is longer than " + std::to_string(kBodyBytesMax) +
                                  " bytes"};
            }
            command.body = std::string(value.value());
        } else if (flag == "body-file") {
            command.body_file = std::string(value.value());
        } else {
            return UsageError{"unknown flag --" + std::string(flag) +
                              " for `bench http`; see bench http --help"};
        }
    }
    if (command.url.empty())
        return UsageError{"--url is required, e.g. --url http://127.0.0.1:8081/health"};
    if (!command.body.empty() && command.body_file) {
        return UsageError{"give either --body or --body-file, not both"};
    }
    if (!method_given && (!command.body.empty() || command.body_file)) command.method = "POST";
    return command;
}

std::string_view HttpUsage() {
    return R"(usage: bench http --url URL [flags]

Loads one URL with one request template over HTTP/1.1 keep-alive connections.

request:
  --url URL         http://host:port/path?query; placeholders allowed in path and query
  --method M        request method                              [GET, or POST with a body]
  --header 'N: V'   request header; repeatable (max 64); placeholders allowed in the value
  --body TEXT       request body; placeholders allowed
  --body-file PATH  request body read from a file (max 16 MiB); placeholders allowed

placeholders, expanded per request:
  {{seq}}           global 0-based sequence number
  {{unique}}        run-random prefix + sequence number: unique within and across runs
  {{uuid}}          random version-4 UUID
  {{rand:A:B}}      uniform integer in [A, B], from --seed; a new draw at every occurrence
  {{seq}}, {{unique}} and {{uuid}} have one value per request wherever they appear.

)";
}

}  // namespace bench
