#include "commons/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>

namespace commons {
namespace {

thread_local std::string current_request_id;

// The keys every line starts with; a field of the same name is written as "<name>_field".
constexpr std::string_view kBuiltInKeys[] = {"time", "level", "service", "msg"};

// Appends `text` as a JSON string. Invalid UTF-8 (client input ends up in logs) is replaced
// byte by byte with U+FFFD, so a line is always valid JSON.
void AppendJsonString(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t size = text.size();
    std::size_t i = 0;
    while (i < size) {
        unsigned char c = bytes[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                out.push_back('\\');
                out.push_back(static_cast<char>(c));
            } else if (c == '\n') {
                out += "\\n";
            } else if (c == '\r') {
                out += "\\r";
            } else if (c == '\t') {
                out += "\\t";
            } else if (c < 0x20 || c == 0x7f) {
                out += "\\u00";
                out.push_back(kHex[c >> 4]);
                out.push_back(kHex[c & 0xf]);
            } else {
                out.push_back(static_cast<char>(c));
            }
            ++i;
            continue;
        }
        // Length and the allowed range of the second byte (RFC 3629, table 3-7 of Unicode).
        std::size_t length = 0;
        unsigned char low = 0x80;
        unsigned char high = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            length = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            length = 3;
            if (c == 0xe0) low = 0xa0;
            if (c == 0xed) high = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            length = 4;
            if (c == 0xf0) low = 0x90;
            if (c == 0xf4) high = 0x8f;
        }
        bool valid =
            length != 0 && i + length <= size && bytes[i + 1] >= low && bytes[i + 1] <= high;
        for (std::size_t k = 2; valid && k < length; ++k) {
            valid = bytes[i + k] >= 0x80 && bytes[i + k] <= 0xbf;
        }
        if (valid) {
            out.append(text.data() + i, length);
            i += length;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    out.push_back('"');
}

void AppendValue(std::string& out, const std::string& value) { AppendJsonString(out, value); }
void AppendValue(std::string& out, bool value) { out += value ? "true" : "false"; }
void AppendValue(std::string& out, std::int64_t value) {
    char buffer[24];
    auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
    out.append(buffer, end);
}
void AppendValue(std::string& out, double value) {
    if (!std::isfinite(value)) {
        out += "null";
        return;
    }
    char buffer[32];
    auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
    std::string_view text(buffer, static_cast<std::size_t>(end - buffer));
    out += text;
    // Keep it a JSON float: "3" would read back as an integer.
    if (text.find_first_of(".eE") == std::string_view::npos) out += ".0";
}

// "2026-11-21T23:55:00.123456Z". The part up to the seconds is formatted once per second per
// thread; gmtime and strftime are not cheap enough to run for every access-log line.
void AppendUtcTimestamp(std::string& out) {
    thread_local std::time_t cached_second = -1;
    thread_local char cached_prefix[24];
    auto now = std::chrono::system_clock::now();
    auto since_epoch = now.time_since_epoch();
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - seconds);
    auto second = static_cast<std::time_t>(seconds.count());
    if (second != cached_second) {
        std::tm utc{};
        gmtime_r(&second, &utc);
        std::strftime(cached_prefix, sizeof(cached_prefix), "%Y-%m-%dT%H:%M:%S", &utc);
        cached_second = second;
    }
    char fraction[16];
    std::snprintf(fraction, sizeof(fraction), ".%06lldZ", static_cast<long long>(micros.count()));
    out.push_back('"');
    out += cached_prefix;
    out += fraction;
    out.push_back('"');
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
    switch (level) {
        case LogLevel::kDebug:
            return "debug";
        case LogLevel::kInfo:
            return "info";
        case LogLevel::kWarn:
            return "warn";
        case LogLevel::kError:
            return "error";
    }
    return "info";
}

std::optional<LogLevel> ParseLogLevel(std::string_view text) {
    for (auto level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
        if (LogLevelName(level) == text) return level;
    }
    return std::nullopt;
}

std::string_view CurrentRequestId() { return current_request_id; }

ScopedRequestId::ScopedRequestId(std::string request_id)
    : previous_(std::exchange(current_request_id, std::move(request_id))) {}

ScopedRequestId::~ScopedRequestId() { current_request_id = std::move(previous_); }

Logger::Logger(std::string service, std::FILE* out, LogLevel level)
    : service_(std::move(service)), out_(out), level_(level) {}

std::string Logger::Format(LogLevel level, std::string_view message,
                           std::initializer_list<LogField> fields) const {
    std::string line;
    line.reserve(256);
    line += "{\"time\":";
    AppendUtcTimestamp(line);
    line += ",\"level\":";
    AppendJsonString(line, LogLevelName(level));
    line += ",\"service\":";
    AppendJsonString(line, service_);
    line += ",\"msg\":";
    AppendJsonString(line, message);
    // An explicit request_id field wins over the thread's current one.
    bool has_request_id_field = false;
    for (const auto& field : fields) has_request_id_field |= field.key == "request_id";
    if (!has_request_id_field && !current_request_id.empty()) {
        line += ",\"request_id\":";
        AppendJsonString(line, current_request_id);
    }
    for (const auto& field : fields) {
        line.push_back(',');
        std::string key(field.key);
        for (auto built_in : kBuiltInKeys) {
            if (field.key == built_in) key += "_field";
        }
        AppendJsonString(line, key);
        line.push_back(':');
        std::visit([&line](const auto& value) { AppendValue(line, value); }, field.value);
    }
    line.push_back('}');
    return line;
}

void Logger::Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
    if (!Enabled(level) || out_ == nullptr) return;
    std::string line = Format(level, message, fields);
    line.push_back('\n');
    // One write(2) per line, outside any lock: the kernel keeps a write of up to PIPE_BUF
    // bytes whole on a pipe (how containers collect stdout) and on a file opened for append,
    // so lines from many threads never interleave and never wait for each other. Longer
    // lines take the mutex so they at least stay whole among themselves.
    const int fd = fileno(out_);
    std::unique_lock lock(write_mutex_, std::defer_lock);
    if (line.size() > PIPE_BUF) lock.lock();
    std::size_t written = 0;
    while (written < line.size()) {
        ssize_t n = ::write(fd, line.data() + written, line.size() - written);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // nowhere left to report a failing log
        }
        written += static_cast<std::size_t>(n);
    }
}

}  // namespace commons
