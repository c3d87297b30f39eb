#include "middleware/rate_limit.hpp"

#include <algorithm>
#include <cmath>

#include "commons/assert.hpp"

namespace middleware {

RateLimiter::RateLimiter(RateLimitSettings settings, Clock clock)
    : settings_(settings),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {
    PAY_ASSERT(settings_.tokens_per_second >= 0);
    PAY_ASSERT(settings_.burst >= 1 || settings_.tokens_per_second == 0);
    PAY_ASSERT(settings_.keys_max > 0);
}

std::optional<std::chrono::milliseconds> RateLimiter::TryAcquire(std::string_view key) {
    if (!enabled()) return std::nullopt;
    Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
    const auto now = clock_();
    std::lock_guard lock(shard.mutex);
    auto it = shard.buckets.find(std::string(key));
    if (it == shard.buckets.end()) {
        if (shard.buckets.size() >= settings_.keys_max / kShards + 1) {
            // Drop buckets that have refilled completely: forgetting them changes nothing.
            std::erase_if(shard.buckets, [&](const auto& entry) {
                double elapsed = std::chrono::duration<double>(now - entry.second.updated).count();
                return entry.second.tokens + elapsed * settings_.tokens_per_second >=
                       settings_.burst;
            });
        }
        it = shard.buckets.emplace(std::string(key), Bucket{settings_.burst, now}).first;
    }
    Bucket& bucket = it->second;
    double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(settings_.burst,
                             bucket.tokens + std::max(0.0, elapsed) * settings_.tokens_per_second);
    bucket.updated = now;
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        return std::nullopt;
    }
    double wait_seconds = (1.0 - bucket.tokens) / settings_.tokens_per_second;
    return std::chrono::milliseconds(static_cast<long long>(std::ceil(wait_seconds * 1000.0)));
}

commons::http::Middleware RateLimit(RateLimiter& limiter) {
    return [&limiter](commons::http::Request& request,
                      const commons::http::Handler& next) -> commons::http::Response {
        if (request.key_id.empty() || !limiter.enabled()) return next(request);
        auto wait = limiter.TryAcquire(request.key_id);
        if (!wait) return next(request);
        auto seconds = std::max<long long>(1, (wait->count() + 999) / 1000);
        auto response = commons::http::Response::Error(commons::ApiError{
            429, commons::ErrorType::kRateLimit, "rate_limit_exceeded",
            "Too many requests for this API key; retry after " + std::to_string(seconds) + " s.",
            std::nullopt});
        response.SetHeader("Retry-After", std::to_string(seconds));
        return response;
    };
}

}  // namespace middleware
