#include "commons/redis.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <charconv>

#include "commons/assert.hpp"

namespace commons {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
    return timeval{static_cast<time_t>(ms.count() / 1000),
                   static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

RedisReply Convert(const redisReply* reply) {
    RedisReply out;
    switch (reply->type) {
        case REDIS_REPLY_STRING:
            out.type = RedisReply::Type::kString;
            out.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = RedisReply::Type::kStatus;
            out.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = RedisReply::Type::kError;
            out.text.assign(reply->str, reply->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = RedisReply::Type::kInteger;
            out.integer = reply->integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = RedisReply::Type::kArray;
            out.elements.reserve(reply->elements);
            for (std::size_t i = 0; i < reply->elements; ++i) {
                out.elements.push_back(Convert(reply->element[i]));
            }
            break;
        default:
            out.type = RedisReply::Type::kNil;
    }
    return out;
}

struct ReplyDeleter {
    void operator()(redisReply* reply) const { freeReplyObject(reply); }
};

}  // namespace

std::optional<RedisEndpoint> ParseRedisUrl(std::string_view url) {
    constexpr std::string_view kScheme = "redis://";
    if (url.substr(0, kScheme.size()) != kScheme) return std::nullopt;
    std::string_view rest = url.substr(kScheme.size());
    RedisEndpoint endpoint;
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        std::string_view db = rest.substr(slash + 1);
        if (!db.empty()) {
            auto [end, error] =
                std::from_chars(db.data(), db.data() + db.size(), endpoint.database);
            if (error != std::errc() || end != db.data() + db.size() || endpoint.database < 0) {
                return std::nullopt;
            }
        }
    }
    auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        auto colon = userinfo.find(':');
        endpoint.password =
            std::string(colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1));
        authority = authority.substr(at + 1);
    }
    auto colon = authority.rfind(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
        std::string_view port = authority.substr(colon + 1);
        auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), endpoint.port);
        if (error != std::errc() || end != port.data() + port.size() || endpoint.port <= 0 ||
            endpoint.port > 65535) {
            return std::nullopt;
        }
    }
    if (endpoint.host.empty()) return std::nullopt;
    return endpoint;
}

void RedisClient::ContextDeleter::operator()(redisContext* context) const { redisFree(context); }

RedisClient::RedisClient(RedisSettings settings) : settings_(std::move(settings)) {
    auto endpoint = ParseRedisUrl(settings_.url);
    if (!endpoint) throw std::invalid_argument("malformed Redis URL");
    endpoint_ = std::move(*endpoint);
    PAY_ASSERT(settings_.pool_size > 0);
}

RedisClient::~RedisClient() = default;

RedisClient::Context RedisClient::Connect() {
    Context context(redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port,
                                            ToTimeval(settings_.connect_timeout)));
    if (!context) throw RedisUnavailableError("cannot allocate a Redis context");
    if (context->err) {
        throw RedisUnavailableError("cannot connect to Redis at " + endpoint_.host + ":" +
                                    std::to_string(endpoint_.port) + ": " + context->errstr);
    }
    if (redisSetTimeout(context.get(), ToTimeval(settings_.command_timeout)) != REDIS_OK) {
        throw RedisUnavailableError("cannot set the Redis command timeout");
    }
    auto setup = [&](const std::vector<std::string>& args) {
        std::vector<const char*> argv;
        std::vector<std::size_t> lengths;
        for (const auto& arg : args) {
            argv.push_back(arg.data());
            lengths.push_back(arg.size());
        }
        std::unique_ptr<redisReply, ReplyDeleter> reply(static_cast<redisReply*>(redisCommandArgv(
            context.get(), static_cast<int>(argv.size()), argv.data(), lengths.data())));
        if (!reply)
            throw RedisUnavailableError(std::string("Redis setup failed: ") + context->errstr);
        if (reply->type == REDIS_REPLY_ERROR) {
            throw RedisUnavailableError("Redis refused " + args[0] + ": " +
                                        std::string(reply->str, reply->len));
        }
    };
    if (!endpoint_.password.empty()) setup({"AUTH", endpoint_.password});
    if (endpoint_.database != 0) setup({"SELECT", std::to_string(endpoint_.database)});
    return context;
}

RedisClient::Context RedisClient::AcquireContext() {
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + settings_.acquire_timeout;
    for (;;) {
        if (!idle_.empty()) {
            Context context = std::move(idle_.back());
            idle_.pop_back();
            return context;
        }
        if (open_ < settings_.pool_size) {
            ++open_;
            lock.unlock();
            try {
                return Connect();
            } catch (...) {
                lock.lock();
                --open_;
                released_.notify_one();
                throw;
            }
        }
        if (released_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
            open_ >= settings_.pool_size) {
            throw RedisUnavailableError("no Redis connection free within " +
                                        std::to_string(settings_.acquire_timeout.count()) + " ms");
        }
    }
}

void RedisClient::ReleaseContext(Context context) {
    {
        std::lock_guard lock(mutex_);
        if (context && context->err == 0) {
            idle_.push_back(std::move(context));
        } else {
            --open_;
        }
    }
    released_.notify_one();
}

RedisReply RedisClient::CommandOnce(const std::vector<std::string>& args) {
    Context context = AcquireContext();
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const auto& arg : args) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
    }
    std::unique_ptr<redisReply, ReplyDeleter> reply(static_cast<redisReply*>(redisCommandArgv(
        context.get(), static_cast<int>(argv.size()), argv.data(), lengths.data())));
    if (!reply) {
        // hiredis sets err on the context; the connection is unusable from here on.
        std::string what = context->errstr;
        ReleaseContext(std::move(context));
        throw RedisUnavailableError("Redis command failed: " + what);
    }
    RedisReply out = Convert(reply.get());
    ReleaseContext(std::move(context));
    return out;
}

RedisReply RedisClient::Command(const std::vector<std::string>& args, RedisRetry retry) {
    PAY_ASSERT(!args.empty());
    try {
        return CommandOnce(args);
    } catch (const RedisUnavailableError&) {
        // A pooled connection may have died while idle (Redis restarted); one fresh attempt
        // is safe only for commands the caller marked as repeatable.
        if (retry == RedisRetry::kNever) throw;
        return CommandOnce(args);
    }
}

std::string RedisClient::Ping() {
    try {
        RedisReply reply = Command({"PING"}, RedisRetry::kRetryOnce);
        if (reply.type == RedisReply::Type::kStatus && reply.text == "PONG") return "";
        return "unexpected reply to PING: " + reply.text;
    } catch (const std::exception& error) {
        return error.what();
    }
}

}  // namespace commons
