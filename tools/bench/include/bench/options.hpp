#pragma once

// Command-line parsing for bench. Flags shared by every scenario (load shape, output) are parsed
// by ParseCommonFlag so each scenario's parser only adds its own flags.

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commons/result.hpp"

namespace bench {

// A whole unsigned or floating-point number: no sign, no leading or trailing characters.
template <typename Number>
std::optional<Number> ParseNumber(std::string_view text) {
    Number value{};
    if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
    auto [stop, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || stop != text.data() + text.size()) return std::nullopt;
    return value;
}

// Limits on what a command line may ask for, each with its reason.
// One socket per connection; past this, load from several machines instead.
inline constexpr std::uint32_t kConnectionsMax = 10'000;
// Longer soaks belong to a proper load-testing setup, not a developer tool.
inline constexpr std::chrono::nanoseconds kDurationMax = std::chrono::hours(1);
inline constexpr std::chrono::nanoseconds kWarmupMax = std::chrono::minutes(10);
// A request slower than this is a hang, not a latency.
inline constexpr std::chrono::nanoseconds kRequestTimeoutMax = std::chrono::minutes(5);
inline constexpr std::chrono::nanoseconds kRequestTimeoutMin = std::chrono::milliseconds(1);
// A single client machine cannot offer more; the schedule's precision also assumes it.
inline constexpr double kRatePerSecondMax = 1'000'000;
// One request per 100 s; anything slower is not load.
inline constexpr double kRatePerSecondMin = 0.01;
inline constexpr std::uint32_t kThreadsMax = 64;
inline constexpr std::size_t kHeadersMax = 64;
// Request bodies are held in memory and copied per request.
inline constexpr std::size_t kBodyBytesMax = 16 << 20;

// How a load is shaped; shared by every scenario.
struct LoadSettings {
    // Closed model: this many connections each send their next request when the previous one
    // completes. Open model (rate set): the most connections in flight.
    std::uint32_t connections = 16;
    // Measured time, after the warm-up.
    std::chrono::nanoseconds duration = std::chrono::seconds(10);
    // Load applied but not measured, so connections and server caches are warm.
    std::chrono::nanoseconds warmup = std::chrono::seconds(1);
    // Deadline for one request: connect (when needed), write and read.
    std::chrono::nanoseconds request_timeout = std::chrono::seconds(5);
    // Set: open model at this offered rate. Unset: closed model.
    std::optional<double> rate_per_second;
    // Threads, each running its own io_context with its share of connections.
    std::uint32_t threads = 1;
};

enum class OutputFormat { kText, kJson };

// Flags every scenario accepts besides the load shape.
struct CommonOptions {
    LoadSettings load;
    OutputFormat format = OutputFormat::kText;
    std::string label;
    // Unset: a random seed is drawn and printed.
    std::optional<std::uint64_t> seed;
};

struct UsageError {
    std::string message;
};

// The arguments of one command, consumed front to back. Flags are "--name value" or
// "--name=value".
class ArgReader {
  public:
    explicit ArgReader(std::span<const std::string_view> args) : args_(args) {}

    bool done() const { return position_ >= args_.size(); }
    // The next flag's name without "--" and its inline value if written "--name=value".
    // Precondition: !done(). A token that is not a flag is a UsageError.
    commons::Result<std::string_view, UsageError> NextFlag();
    // The value of the flag NextFlag returned: its inline value, or the next argument.
    commons::Result<std::string_view, UsageError> Value();
    // For switches: an inline value ("--json=true") is a UsageError.
    commons::Result<bool, UsageError> NoValue();

  private:
    std::span<const std::string_view> args_;
    std::size_t position_ = 0;
    std::string_view flag_;
    std::optional<std::string_view> inline_value_;
};

// Parses "250ms", "10s", "1.5m", "1h". A number without a unit is rejected so "10" is never
// silently ten nanoseconds or ten hours.
std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// The shortest exact form in one unit: "0s", "250ms", "10s", "2m", "1h" ("1500ms" for 1.5s).
std::string FormatDuration(std::chrono::nanoseconds value);

// Applies `flag` if it is a common one (--concurrency, --duration, --rate, --warmup, --timeout,
// --threads, --json, --label, --seed), reading its value from `reader`. Returns false for a
// flag that is not common; an invalid or out-of-range value is a UsageError.
commons::Result<bool, UsageError> ParseCommonFlag(std::string_view flag, ArgReader& reader,
                                                  CommonOptions& options);

// The value of --cpu-of: "none" (an empty list), or comma-separated command names of 1 to 15
// bytes (the kernel's limit) without '/' or spaces, at most 8, repeats dropped.
commons::Result<std::vector<std::string>, UsageError> ParseCpuOf(std::string_view value);

// Help text for the common flags, for each scenario's usage text.
std::string_view CommonFlagsHelp();

// `bench http ...`: one request template against one URL.
struct HttpCommand {
    CommonOptions common;
    std::string url;
    std::string method = "GET";
    std::vector<std::string> headers;  // "Name: value", unparsed
    std::string body;
    std::optional<std::string> body_file;
    bool help = false;
};

// Parses the arguments after "http". A missing --url, an unknown flag or a value out of range
// is a UsageError; --help sets `help` and skips validation.
commons::Result<HttpCommand, UsageError> ParseHttpCommand(std::span<const std::string_view> args);

std::string_view HttpUsage();

}  // namespace bench
