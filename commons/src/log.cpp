#include "commons/log.hpp"

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace commons {
namespace {

thread_local std::string current_request_id;

std::string UtcTimestamp() {
    auto now = std::chrono::system_clock::now();
    auto seconds = std::chrono::system_clock::to_time_t(now);
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()) %
                  std::chrono::seconds(1);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[40];
    std::size_t n = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(buffer + n, sizeof(buffer) - n, ".%06lldZ",
                  static_cast<long long>(micros.count()));
    return buffer;
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
    nlohmann::ordered_json line;
    line["time"] = UtcTimestamp();
    line["level"] = LogLevelName(level);
    line["service"] = service_;
    line["msg"] = message;
    if (!current_request_id.empty()) line["request_id"] = current_request_id;
    for (const auto& field : fields) {
        // A field never replaces the line's own keys; it is kept under a suffixed name.
        std::string key(field.key);
        if (line.contains(key)) key += "_field";
        std::visit([&](const auto& value) { line[key] = value; }, field.value);
    }
    // Replace invalid UTF-8 rather than throw: log lines often carry client input.
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void Logger::Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
    if (!Enabled(level)) return;
    std::string line = Format(level, message, fields);
    line.push_back('\n');
    std::lock_guard lock(write_mutex_);
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
}

}  // namespace commons
