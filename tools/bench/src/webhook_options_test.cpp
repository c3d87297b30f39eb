#include "bench/webhook_options.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace bench {
namespace {

using namespace std::chrono_literals;

commons::Result<WebhookCommand, UsageError> Parse(std::vector<std::string_view> args) {
    return ParseWebhookCommand(args);
}

std::string ErrorOf(std::vector<std::string_view> args) {
    auto parsed = Parse(std::move(args));
    return parsed.ok() ? "<parsed>" : parsed.error().message;
}

TEST(ParseWebhookCommand, ParsesTheFullCommandLine) {
    auto parsed = Parse({"--scenario",
                         "fanout10",
                         "--url",
                         "http://127.0.0.1:18084",
                         "--api-key",
                         "sk_k",
                         "--publish",
                         "api",
                         "--redis-url",
                         "redis://127.0.0.1:1/0",
                         "--stream",
                         "bench.events.7",
                         "--rate",
                         "250",
                         "--duration",
                         "20s",
                         "--publishers",
                         "8",
                         "--timeout",
                         "2s",
                         "--drain-timeout",
                         "90s",
                         "--max-in-flight",
                         "128",
                         "--receiver-port",
                         "18999",
                         "--cpu-of",
                         "webhook-service,postgres",
                         "--json",
                         "--label",
                         "w1"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    const WebhookCommand& command = parsed.value();
    EXPECT_EQ(command.scenarios, std::vector<WebhookScenario>{WebhookScenario::kFanout10});
    EXPECT_EQ(command.url, "http://127.0.0.1:18084");
    EXPECT_EQ(command.api_key, "sk_k");
    EXPECT_EQ(command.publish, PublishPath::kApi);
    EXPECT_EQ(command.redis_url, "redis://127.0.0.1:1/0");
    EXPECT_EQ(command.stream, "bench.events.7");
    EXPECT_DOUBLE_EQ(command.rate_per_second, 250.0);
    EXPECT_EQ(command.common.load.duration, 20s);
    EXPECT_EQ(command.publishers, 8u);
    EXPECT_EQ(command.common.load.request_timeout, 2s);
    EXPECT_EQ(command.drain_timeout, 90s);
    EXPECT_EQ(command.max_in_flight, 128u);
    EXPECT_EQ(command.receiver_port, 18999);
    EXPECT_EQ(command.cpu_processes, (std::vector<std::string>{"webhook-service", "postgres"}));
    EXPECT_EQ(command.common.format, OutputFormat::kJson);
    EXPECT_EQ(command.common.label, "w1");
}

TEST(ParseWebhookCommand, HasSensibleDefaults) {
    auto parsed = Parse({"--scenario", "all"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    const WebhookCommand& command = parsed.value();
    EXPECT_EQ(command.scenarios, (std::vector<WebhookScenario>{WebhookScenario::kFanout1,
                                                               WebhookScenario::kFanout10}));
    EXPECT_EQ(command.url, "http://127.0.0.1:8084");
    EXPECT_FALSE(command.api_key.has_value());
    EXPECT_FALSE(command.redis_url.has_value());
    EXPECT_FALSE(command.stream.has_value());
    EXPECT_EQ(command.publish, PublishPath::kStream);
    EXPECT_EQ(command.rate_per_second, 0.0);
    EXPECT_EQ(command.common.load.duration, 10s);
    EXPECT_EQ(command.publishers, 4u);
    EXPECT_EQ(command.drain_timeout, 60s);
    EXPECT_EQ(command.max_in_flight, 64u);
    EXPECT_EQ(command.receiver_port, 0);
    EXPECT_EQ(command.cpu_processes,
              (std::vector<std::string>{"webhook-service", "postgres", "redis-server"}));
    EXPECT_FALSE(command.help);
}

TEST(ParseWebhookCommand, RateIsEventsPerSecondAndZeroMeansUnpaced) {
    auto parsed = Parse({"--scenario", "fanout1", "--rate", "0"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed.value().rate_per_second, 0.0);
    parsed = Parse({"--scenario", "fanout1", "--rate=0.01"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_DOUBLE_EQ(parsed.value().rate_per_second, 0.01);
    for (const char* bad : {"0.001", "-1", "1000001", "fast", "", "nan", "inf"}) {
        const std::string error = ErrorOf({"--scenario", "fanout1", "--rate", bad});
        EXPECT_NE(error.find("expected events per second"), std::string::npos)
            << bad << " -> " << error;
    }
}

TEST(ParseWebhookCommand, ConcurrencyCountsPublishers) {
    auto parsed = Parse({"--scenario", "fanout1", "--concurrency", "12"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed.value().publishers, 12u);
    EXPECT_NE(ErrorOf({"--scenario", "fanout1", "--publishers", "0"}).find("from 1 to 64"),
              std::string::npos);
    EXPECT_NE(ErrorOf({"--scenario", "fanout1", "--publishers", "65"}).find("from 1 to 64"),
              std::string::npos);
}

TEST(ParseWebhookCommand, RefusesLoadFlagsThatDoNotApply) {
    for (const char* flag : {"--warmup", "--threads", "--seed"}) {
        const std::string error = ErrorOf({"--scenario", "fanout1", flag, "1"});
        EXPECT_NE(error.find("does not apply to `bench webhook`"), std::string::npos)
            << flag << " -> " << error;
    }
}

TEST(ParseWebhookCommand, MaxInFlightTakesACountOrTheServiceDefault) {
    auto parsed = Parse({"--scenario", "fanout1", "--max-in-flight", "default"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_FALSE(parsed.value().max_in_flight.has_value());
    parsed = Parse({"--scenario", "fanout1", "--max-in-flight", "1000"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed.value().max_in_flight, 1000u);
    EXPECT_NE(ErrorOf({"--scenario", "fanout1", "--max-in-flight", "1001"})
                  .find("from 1 to 1000, or default"),
              std::string::npos);
    EXPECT_NE(ErrorOf({"--scenario", "fanout1", "--max-in-flight", "0"}).find("from 1 to 1000"),
              std::string::npos);
}

TEST(ParseWebhookCommand, RequiresAKnownScenario) {
    EXPECT_NE(ErrorOf({"--rate", "10"}).find("--scenario is required"), std::string::npos);
    EXPECT_NE(ErrorOf({"--scenario", "fanout2"}).find("unknown scenario \"fanout2\""),
              std::string::npos);
    EXPECT_NE(ErrorOf({"--scenario", "fanout1,"}).find("unknown scenario \"\""), std::string::npos);
}

TEST(ParseWebhookCommand, RejectsValuesOutOfRange) {
    struct Case {
        std::vector<std::string_view> args;
        std::string_view message_part;
    };
    const std::vector<Case> cases = {
        {{"--publish", "queue"}, "--publish queue: expected stream or api"},
        {{"--drain-timeout", "500ms"}, "--drain-timeout 500ms: expected a duration from 1s"},
        {{"--drain-timeout", "31m"}, "to 30m"},
        {{"--drain-timeout", "60"}, "expected a duration"},
        {{"--receiver-port", "65536"}, "from 0 to 65535"},
        {{"--stream", ""}, "--stream: expected a stream name"},
        {{"--stream", "a b"}, "--stream: expected a stream name"},
        {{"--stream", std::string_view("a\nb")}, "--stream: expected a stream name"},
        {{"--cpu-of", "a/b"}, "--cpu-of"},
        {{"--duration", "50ms"}, "--duration 50ms"},
        {{"--bogus", "1"}, "unknown flag --bogus for `bench webhook`"},
        {{"--url"}, "--url needs a value"},
    };
    for (const Case& bad : cases) {
        std::vector<std::string_view> args = {"--scenario", "all"};
        args.insert(args.end(), bad.args.begin(), bad.args.end());
        const std::string error = ErrorOf(args);
        EXPECT_NE(error.find(bad.message_part), std::string::npos)
            << bad.args.front() << " -> " << error;
    }
}

TEST(ParseWebhookCommand, RefusesAPacedRunBeyondTheDeliveryBound) {
    // fanout10 at 10,000 events/s for 60 s expects 6,000,000 deliveries: over 4,000,000.
    EXPECT_NE(ErrorOf({"--scenario", "all", "--rate", "10000", "--duration", "60s"})
                  .find("fanout10 would expect more than 4000000 deliveries"),
              std::string::npos);
    EXPECT_EQ(ErrorOf({"--scenario", "fanout1", "--rate", "10000", "--duration", "60s"}),
              "<parsed>");
    // Unpaced runs stop at the bound instead.
    EXPECT_EQ(ErrorOf({"--scenario", "all", "--rate", "0", "--duration", "1h"}), "<parsed>");
}

TEST(ParseWebhookCommand, HelpSkipsValidation) {
    auto parsed = Parse({"--help", "--bogus"});
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed.value().help);
}

TEST(ParseWebhookScenarios, KeepsOrderAndDropsRepeats) {
    auto parsed = ParseWebhookScenarios("fanout10,fanout1,fanout10");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.value(), (std::vector<WebhookScenario>{WebhookScenario::kFanout10,
                                                            WebhookScenario::kFanout1}));
    parsed = ParseWebhookScenarios("fanout10,all");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.value(), (std::vector<WebhookScenario>{WebhookScenario::kFanout10,
                                                            WebhookScenario::kFanout1}));
    EXPECT_EQ(EndpointsOf(WebhookScenario::kFanout1), 1u);
    EXPECT_EQ(EndpointsOf(WebhookScenario::kFanout10), 10u);
}

TEST(WebhookEventsCapacity, IsTheScheduleWhenPacedAndTheBoundOtherwise) {
    // 250/s for 10 s: 2,500 events, plus one per publisher for the schedule's rounding.
    EXPECT_EQ(WebhookEventsCapacity(250, 10s, 10, 4), 2504u);
    EXPECT_EQ(WebhookEventsCapacity(0.5, 3s, 1, 1), 3u);  // ceil(1.5) + 1
    EXPECT_EQ(WebhookEventsCapacity(0, 10s, 1, 4), kWebhookDeliveriesMax);
    EXPECT_EQ(WebhookEventsCapacity(0, 10s, 10, 4), kWebhookDeliveriesMax / 10);
    EXPECT_EQ(WebhookEventsCapacity(1e6, std::chrono::hours(1), 10, 4), kWebhookDeliveriesMax / 10);
}

}  // namespace
}  // namespace bench
