#include "middleware/rate_limit.hpp"

#include <gtest/gtest.h>

namespace middleware {
namespace {

using namespace std::chrono_literals;

class FakeClock {
  public:
    RateLimiter::Clock Function() {
        return [this] { return now_; };
    }
    void Advance(std::chrono::milliseconds by) { now_ += by; }

  private:
    std::chrono::steady_clock::time_point now_{std::chrono::seconds(1000)};
};

TEST(RateLimiter, AllowsBurstThenRefusesWithWaitUntilNextToken) {
    FakeClock clock;
    RateLimiter limiter({/*tokens_per_second=*/10, /*burst=*/3, 100}, clock.Function());
    EXPECT_FALSE(limiter.TryAcquire("key_a"));
    EXPECT_FALSE(limiter.TryAcquire("key_a"));
    EXPECT_FALSE(limiter.TryAcquire("key_a"));
    auto wait = limiter.TryAcquire("key_a");
    ASSERT_TRUE(wait);
    EXPECT_EQ(*wait, 100ms);  // one token per 100 ms at 10/s
}

TEST(RateLimiter, RefillsAtTheConfiguredRateUpToTheBurst) {
    FakeClock clock;
    RateLimiter limiter({10, 3, 100}, clock.Function());
    for (int i = 0; i < 3; ++i) ASSERT_FALSE(limiter.TryAcquire("k"));
    clock.Advance(250ms);  // 2.5 tokens
    EXPECT_FALSE(limiter.TryAcquire("k"));
    EXPECT_FALSE(limiter.TryAcquire("k"));
    auto wait = limiter.TryAcquire("k");
    ASSERT_TRUE(wait);
    EXPECT_EQ(*wait, 50ms);
    clock.Advance(std::chrono::hours(1));  // refills to the burst, not beyond
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(limiter.TryAcquire("k"));
    EXPECT_TRUE(limiter.TryAcquire("k"));
}

TEST(RateLimiter, KeysHaveSeparateBuckets) {
    FakeClock clock;
    RateLimiter limiter({1, 1, 100}, clock.Function());
    EXPECT_FALSE(limiter.TryAcquire("a"));
    EXPECT_TRUE(limiter.TryAcquire("a"));
    EXPECT_FALSE(limiter.TryAcquire("b"));
}

TEST(RateLimiter, ZeroRateDisablesLimiting) {
    RateLimiter limiter({0, 1, 100});
    EXPECT_FALSE(limiter.enabled());
    for (int i = 0; i < 10'000; ++i) ASSERT_FALSE(limiter.TryAcquire("k"));
}

TEST(RateLimiter, ManyDistinctKeysStayBoundedAndStillWork) {
    FakeClock clock;
    RateLimiter limiter({1000, 1, 16}, clock.Function());
    for (int i = 0; i < 10'000; ++i) {
        clock.Advance(1ms);
        ASSERT_FALSE(limiter.TryAcquire("key_" + std::to_string(i)));
    }
}

TEST(RateLimitMiddleware, Answers429WithRetryAfterAndPassesOtherwise) {
    FakeClock clock;
    RateLimiter limiter({0.5, 1, 100}, clock.Function());
    auto middleware = RateLimit(limiter);
    int calls = 0;
    commons::http::Handler next = [&](commons::http::Request&) {
        ++calls;
        return commons::http::Response::Json(200, "{}");
    };
    commons::http::Request request;
    request.key_id = "key_dev";
    EXPECT_EQ(middleware(request, next).status, 200);
    auto refused = middleware(request, next);
    EXPECT_EQ(refused.status, 429);
    EXPECT_EQ(refused.Header("Retry-After"), "2");
    EXPECT_NE(refused.body.find("rate_limit_exceeded"), std::string::npos);
    EXPECT_NE(refused.body.find("rate_limit_error"), std::string::npos);
    EXPECT_EQ(calls, 1);

    commons::http::Request anonymous;  // /health and friends carry no key
    EXPECT_EQ(middleware(anonymous, next).status, 200);
}

}  // namespace
}  // namespace middleware
