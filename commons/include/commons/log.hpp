#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace commons {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

std::string_view LogLevelName(LogLevel level);
std::optional<LogLevel> ParseLogLevel(std::string_view text);

// One structured field of a log line.
struct LogField {
    std::string_view key;
    std::variant<std::string, std::int64_t, double, bool> value;

    LogField(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
    LogField(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
    LogField(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
    LogField(std::string_view k, bool v) : key(k), value(v) {}
    LogField(std::string_view k, double v) : key(k), value(v) {}
    template <typename Int>
    requires std::is_integral_v<Int> LogField(std::string_view k, Int v)
        : key(k), value(static_cast<std::int64_t>(v)) {}
};

// The request id of the work running on this thread, set by ScopedRequestId around a
// handler. Empty when there is none.
std::string_view CurrentRequestId();

// Sets CurrentRequestId() for its lifetime on this thread. Use only around synchronous work:
// a coroutine that suspends may resume on another thread.
class ScopedRequestId {
  public:
    explicit ScopedRequestId(std::string request_id);
    ~ScopedRequestId();
    ScopedRequestId(const ScopedRequestId&) = delete;
    ScopedRequestId& operator=(const ScopedRequestId&) = delete;

  private:
    std::string previous_;
};

// Writes JSON lines: {"time": ..., "level": ..., "service": ..., "msg": ..., "request_id": ...,
// <fields>}. Thread-safe; each line is written whole with one write(2) to the FILE's
// descriptor (the FILE's own buffer is not used). The level can change at run time.
class Logger {
  public:
    explicit Logger(std::string service, std::FILE* out = stdout, LogLevel level = LogLevel::kInfo);

    void SetLevel(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
    LogLevel level() const { return level_.load(std::memory_order_relaxed); }
    bool Enabled(LogLevel level) const { return level >= this->level(); }
    const std::string& service() const { return service_; }

    void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});
    void Debug(std::string_view message, std::initializer_list<LogField> fields = {}) {
        Log(LogLevel::kDebug, message, fields);
    }
    void Info(std::string_view message, std::initializer_list<LogField> fields = {}) {
        Log(LogLevel::kInfo, message, fields);
    }
    void Warn(std::string_view message, std::initializer_list<LogField> fields = {}) {
        Log(LogLevel::kWarn, message, fields);
    }
    void Error(std::string_view message, std::initializer_list<LogField> fields = {}) {
        Log(LogLevel::kError, message, fields);
    }

    // Formats a line without writing it (used by Log and by tests).
    std::string Format(LogLevel level, std::string_view message,
                       std::initializer_list<LogField> fields) const;

  private:
    std::string service_;
    std::FILE* out_;
    std::atomic<LogLevel> level_;
    std::mutex write_mutex_;
};

}  // namespace commons
