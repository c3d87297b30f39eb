#include "bench/webhook_receiver.hpp"

#include <gtest/gtest.h>

#include "commons/events.hpp"
#include "commons/http/client.hpp"
#include "commons/log.hpp"

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

// A receiver on a free port and a client posting to it the way webhook-service delivers.
class WebhookReceiverTest : public ::testing::Test {
  protected:
    void SetUp() override { receiver_.Start(); }

    static commons::http::ClientSettings Settings() {
        commons::http::ClientSettings settings;
        settings.attempts_max = 1;
        settings.request_timeout = std::chrono::milliseconds(5'000);
        return settings;
    }

    // POSTs an envelope whose data is `data_json` to `url`, with `event_id` as webhook-id
    // (none when empty); returns the status.
    int Deliver(const std::string& url, const std::string& event_id, const std::string& data_json) {
        commons::Event event;
        event.id = event_id.empty() ? "evt_none" : event_id;
        event.type = "bench.rtest.fanout1.created";
        event.source = "bench";
        event.created = 1'700'000'000;
        event.data_json = data_json;
        commons::http::ClientRequest request;
        request.method = commons::http::Method::kPost;
        request.url = url;
        request.headers = {{"Content-Type", "application/json"}};
        if (!event_id.empty()) request.headers.push_back({"webhook-id", event_id});
        request.body = commons::FormatEnvelope(event);
        request.retry = commons::http::RetryPolicy::kNever;
        return client_.Send(request).status;
    }

    WebhookReceiver receiver_{"rtest", 0};
    commons::Logger logger_{"test", stderr, commons::LogLevel::kError};
    commons::http::HttpClient client_{Settings(), logger_};
    std::atomic<bool> stop_{false};
};

TEST_F(WebhookReceiverTest, RecordsTheFirstArrivalPerEventAndEndpoint) {
    receiver_.Begin("fanout1", 2, 10, 1);
    receiver_.Published(0, receiver_.Now());
    receiver_.Published(1, receiver_.Now());
    EXPECT_EQ(Deliver(receiver_.Url("fanout1", 0), "evt_a", BenchEventData(0, 1, "rtest")), 200);
    EXPECT_EQ(Deliver(receiver_.Url("fanout1", 1), "evt_a", BenchEventData(0, 1, "rtest")), 200);
    EXPECT_EQ(Deliver(receiver_.Url("fanout1", 0), "evt_b", BenchEventData(1, 1, "rtest")), 200);
    // Not all four yet: the wait ends at its deadline, which has already passed.
    EXPECT_FALSE(receiver_.WaitForAll(Clock::now(), stop_));
    EXPECT_EQ(Deliver(receiver_.Url("fanout1", 0), "evt_b", BenchEventData(1, 1, "rtest")), 200);
    EXPECT_EQ(Deliver(receiver_.Url("fanout1", 1), "evt_b", BenchEventData(1, 1, "rtest")), 200);
    EXPECT_TRUE(receiver_.WaitForAll(Clock::now() + std::chrono::seconds(5), stop_));

    const DeliveryBook book = receiver_.Finish();
    EXPECT_EQ(book.expected(), 4u);
    EXPECT_EQ(book.received(), 4u);
    EXPECT_EQ(book.duplicates(), 1u);
    EXPECT_EQ(book.unexpected(), 0u);
    EXPECT_EQ(book.Latencies().count(), 4u);
    EXPECT_EQ(receiver_.counters().stray, 0u);
    EXPECT_EQ(receiver_.counters().malformed, 0u);
}

TEST_F(WebhookReceiverTest, SetsAsideWhatIsNotThisScenariosDelivery) {
    receiver_.Begin("fanout10", 10, 4, 1);
    receiver_.Published(0, receiver_.Now());
    const std::string data = BenchEventData(0, 1, "rtest");
    // Another scenario, another run: stray. Still answered 200, so the service moves on.
    EXPECT_EQ(Deliver(receiver_.Url("fanout1", 0), "evt_a", data), 200);
    const std::string other_run = receiver_.BaseUrl() + "/hooks/rother/fanout10/0";
    EXPECT_EQ(Deliver(other_run, "evt_a", data), 200);
    // No webhook-id, a bad endpoint index, a body without a bench payload: malformed.
    EXPECT_EQ(Deliver(receiver_.Url("fanout10", 0), "", data), 200);
    EXPECT_EQ(Deliver(receiver_.BaseUrl() + "/hooks/rtest/fanout10/x", "evt_a", data), 200);
    EXPECT_EQ(Deliver(receiver_.Url("fanout10", 0), "evt_a", R"({"amount":1})"), 200);
    // An endpoint index the book does not have, and an event never published: unexpected.
    EXPECT_EQ(Deliver(receiver_.Url("fanout10", 10), "evt_a", data), 200);
    EXPECT_EQ(Deliver(receiver_.Url("fanout10", 0), "evt_c", BenchEventData(2, 1, "rtest")), 200);

    EXPECT_EQ(receiver_.counters().stray, 2u);
    EXPECT_EQ(receiver_.counters().malformed, 3u);
    const DeliveryBook book = receiver_.Finish();
    EXPECT_EQ(book.received(), 0u);
    EXPECT_EQ(book.unexpected(), 2u);
    // After Finish the scenario's deliveries are stray too.
    EXPECT_EQ(Deliver(receiver_.Url("fanout10", 0), "evt_a", data), 200);
    EXPECT_EQ(receiver_.counters().stray, 3u);
}

TEST_F(WebhookReceiverTest, CountsEndpointsThatGotTheCurrentPrimingRound) {
    receiver_.Begin("fanout10", 3, 1, 2);
    EXPECT_EQ(Deliver(receiver_.Url("fanout10", 0), "evt_p", BenchPrimeData(2, "rtest")), 200);
    EXPECT_EQ(Deliver(receiver_.Url("fanout10", 0), "evt_p", BenchPrimeData(2, "rtest")), 200);
    // A late priming event of an earlier round does not count.
    EXPECT_EQ(Deliver(receiver_.Url("fanout10", 1), "evt_o", BenchPrimeData(1, "rtest")), 200);
    EXPECT_EQ(receiver_.WaitForPrime(Clock::now(), stop_), 1u);
    EXPECT_EQ(Deliver(receiver_.Url("fanout10", 1), "evt_p", BenchPrimeData(2, "rtest")), 200);
    EXPECT_EQ(Deliver(receiver_.Url("fanout10", 2), "evt_p", BenchPrimeData(2, "rtest")), 200);
    EXPECT_EQ(receiver_.WaitForPrime(Clock::now() + std::chrono::seconds(5), stop_), 3u);
    // Priming events are not load: the book is untouched.
    const DeliveryBook book = receiver_.Finish();
    EXPECT_EQ(book.unexpected(), 0u);
    EXPECT_EQ(book.received(), 0u);
}

TEST_F(WebhookReceiverTest, AStopRequestEndsAWaitBeforeItsDeadline) {
    receiver_.Begin("fanout1", 1, 1, 1);
    receiver_.Published(0, receiver_.Now());
    stop_.store(true);
    const auto started = Clock::now();
    EXPECT_FALSE(receiver_.WaitForAll(started + std::chrono::hours(1), stop_));
    EXPECT_EQ(receiver_.WaitForPrime(started + std::chrono::hours(1), stop_), 0u);
    EXPECT_LT(Clock::now() - started, std::chrono::minutes(1));
}

TEST_F(WebhookReceiverTest, UrlsNameTheRunScenarioAndEndpoint) {
    const std::string url = receiver_.Url("fanout10", 7);
    EXPECT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
    EXPECT_EQ(url.substr(url.find("/hooks/")), "/hooks/rtest/fanout10/7");
    EXPECT_EQ(url.substr(0, url.find("/hooks/")), receiver_.BaseUrl());
}

}  // namespace
}  // namespace bench
