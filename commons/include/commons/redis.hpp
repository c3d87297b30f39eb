#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;

namespace commons {

// Redis cannot be reached or did not answer in time. The connection is discarded; the next
// command opens a new one.
class RedisUnavailableError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct RedisSettings {
    std::string url;  // redis://[:password@]host[:port][/db]
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{2000};
    std::size_t pool_size = 8;
    std::chrono::milliseconds acquire_timeout{2000};
};

struct RedisEndpoint {
    std::string host;
    int port = 6379;
    std::string password;
    int database = 0;
};

// Parses a redis:// URL; nullopt when malformed.
std::optional<RedisEndpoint> ParseRedisUrl(std::string_view url);

// A Redis reply. Error replies (e.g. WRONGTYPE) are returned as kError, not thrown: they are
// answers, not failures to reach Redis.
struct RedisReply {
    enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
    Type type = Type::kNil;
    std::string text;  // kString, kStatus, kError
    std::int64_t integer = 0;
    std::vector<RedisReply> elements;

    bool is_error() const { return type == Type::kError; }
};

// Whether a command may be sent again on a fresh connection after the first connection failed.
// Only commands that are safe to run twice (reads, SET of the same value) should say kRetryOnce.
enum class RedisRetry { kNever, kRetryOnce };

// A small pool of hiredis connections with connect and command timeouts. Thread-safe; calls
// block, so run them on a BlockingPool thread.
class RedisClient {
  public:
    explicit RedisClient(RedisSettings settings);  // throws ConfigError-like invalid_argument
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    // Sends one command (binary-safe arguments). Throws RedisUnavailableError.
    RedisReply Command(const std::vector<std::string>& args, RedisRetry retry = RedisRetry::kNever);
    // Returns an empty string when PING answers PONG, else what failed.
    std::string Ping();

  private:
    struct ContextDeleter {
        void operator()(redisContext* context) const;
    };
    using Context = std::unique_ptr<redisContext, ContextDeleter>;

    Context Connect();
    Context AcquireContext();
    void ReleaseContext(Context context);
    RedisReply CommandOnce(const std::vector<std::string>& args);

    RedisSettings settings_;
    RedisEndpoint endpoint_;
    std::mutex mutex_;
    std::condition_variable released_;
    std::vector<Context> idle_;
    std::size_t open_ = 0;
};

}  // namespace commons
