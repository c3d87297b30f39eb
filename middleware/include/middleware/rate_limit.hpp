#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "commons/http/types.hpp"

namespace middleware {

struct RateLimitSettings {
    // Sustained requests per second per API key; 0 disables limiting.
    double tokens_per_second = 1000;
    // Requests a key may make at once after being idle.
    double burst = 2000;
    // Buckets kept per process; beyond it, full (idle) buckets are dropped first.
    std::size_t keys_max = 100'000;
};

// Token buckets keyed by API key id, in process memory: each replica limits on its own, so
// the effective limit across N replicas is N times the setting (documented in
// docs/operations.md). Thread-safe, sharded to keep contention low.
class RateLimiter {
  public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    explicit RateLimiter(RateLimitSettings settings, Clock clock = {});

    // Takes a token for `key`. nullopt when allowed; otherwise how long until a token is free.
    std::optional<std::chrono::milliseconds> TryAcquire(std::string_view key);

    bool enabled() const { return settings_.tokens_per_second > 0; }

  private:
    struct Bucket {
        double tokens;
        std::chrono::steady_clock::time_point updated;
    };
    struct Shard {
        std::mutex mutex;
        std::unordered_map<std::string, Bucket> buckets;
    };
    static constexpr std::size_t kShards = 16;

    RateLimitSettings settings_;
    Clock clock_;
    std::array<Shard, kShards> shards_;
};

// Answers 429 `rate_limit_exceeded` with Retry-After (whole seconds, at least 1) when the
// authenticated key has no token left. Requests without a key id pass (they never reach a
// handler under /v1/ without one).
commons::http::Middleware RateLimit(RateLimiter& limiter);

}  // namespace middleware
