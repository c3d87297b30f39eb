#include "bench/webhook_report.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace bench {
namespace {

// `events` events published 1 ms apart from t = 0, each arriving at every endpoint
// `latency_us` after its publish; the last `missing` events never arrive.
DeliveryBook Book(std::uint32_t endpoints, std::uint64_t events, Micros latency_us,
                  std::uint64_t missing = 0) {
    DeliveryBook book(endpoints, events);
    for (std::uint64_t seq = 0; seq < events; ++seq) {
        const auto published = static_cast<Micros>(seq * 1'000);
        book.Published(seq, published);
        if (seq + missing >= events) continue;
        for (std::uint32_t k = 0; k < endpoints; ++k) {
            book.Arrive(k, seq, "evt_" + std::to_string(seq), published + latency_us);
        }
    }
    return book;
}

TEST(SummarizeWebhookScenario, SustainedRateRunsFromTheFirstPublishToTheLastArrival) {
    // 1,000 events over 0.999 s, 10 endpoints, 1 ms each: the last arrival is at 1.000 s.
    const WebhookSummaryRow row =
        SummarizeWebhookScenario("fanout10", Book(10, 1'000, 1'000), 1000, 1.0, 2);
    EXPECT_EQ(row.scenario, "fanout10");
    EXPECT_EQ(row.endpoints, 10u);
    EXPECT_EQ(row.events_published, 1'000u);
    EXPECT_EQ(row.publish_failures, 2u);
    EXPECT_EQ(row.expected, 10'000u);
    EXPECT_EQ(row.received, 10'000u);
    EXPECT_EQ(row.missing, 0u);
    EXPECT_DOUBLE_EQ(row.span_s, 1.0);
    EXPECT_DOUBLE_EQ(row.deliveries_per_s, 10'000.0);
    EXPECT_DOUBLE_EQ(row.events_per_s, 1'000.0);
    EXPECT_DOUBLE_EQ(row.offered_deliveries_per_s(), 10'000.0);
    EXPECT_DOUBLE_EQ(row.drain_s, 0.001);
    EXPECT_EQ(row.latency_count, 10'000u);
    EXPECT_DOUBLE_EQ(row.latency_ms_p50, 1.0);
    EXPECT_DOUBLE_EQ(row.latency_ms_p99, 1.0);
    EXPECT_DOUBLE_EQ(row.latency_ms_max, 1.0);
}

TEST(SummarizeWebhookScenario, MissingDeliveriesAreCountedNotTimed) {
    const WebhookSummaryRow row =
        SummarizeWebhookScenario("fanout1", Book(1, 100, 2'000, 10), 100, 1.0, 0);
    EXPECT_EQ(row.expected, 100u);
    EXPECT_EQ(row.received, 90u);
    EXPECT_EQ(row.missing, 10u);
    EXPECT_EQ(row.latency_count, 90u);
    // The last arrival is event 89's: 89 ms + 2 ms.
    EXPECT_DOUBLE_EQ(row.span_s, 0.091);
    EXPECT_DOUBLE_EQ(row.deliveries_per_s, 90 / 0.091);
}

TEST(SummarizeWebhookScenario, NothingArrivedMeansNoRate) {
    const WebhookSummaryRow row = SummarizeWebhookScenario("fanout1", Book(1, 5, 0, 5), 0, 0.5, 0);
    EXPECT_EQ(row.received, 0u);
    EXPECT_EQ(row.span_s, 0.0);
    EXPECT_EQ(row.deliveries_per_s, 0.0);
    EXPECT_EQ(row.latency_count, 0u);
    EXPECT_DOUBLE_EQ(row.events_per_s, 10.0);
}

TEST(WebhookSummaryRow, CpuPerDeliveryIsCpuTimeOverDeliveriesReceived) {
    WebhookSummaryRow row;
    row.received = 20'000;
    EXPECT_DOUBLE_EQ(row.MicrosPerDelivery(2.0), 100.0);
    row.received = 0;
    EXPECT_DOUBLE_EQ(row.MicrosPerDelivery(2.0), 0.0);
}

WebhookSummaryRow Row(double events_per_s, std::uint32_t endpoints, double sustained, double p99_ms,
                      std::uint64_t missing = 0) {
    WebhookSummaryRow row;
    row.scenario = endpoints == 1 ? "fanout1" : "fanout10";
    row.endpoints = endpoints;
    row.events_per_s = events_per_s;
    row.events_published = 1000;
    row.deliveries_per_s = sustained;
    row.latency_ms_p99 = p99_ms;
    row.latency_count = 1000;
    row.missing = missing;
    return row;
}

GoalVerdict Throughput(const WebhookSummaryRow& row) { return JudgeWebhookGoals(row)[0].verdict; }
GoalVerdict Latency(const WebhookSummaryRow& row) { return JudgeWebhookGoals(row)[1].verdict; }

TEST(JudgeWebhookGoals, ThroughputIsMetBySustainingFiveThousandWithNothingMissing) {
    EXPECT_EQ(Throughput(Row(6000, 1, 5200, 900)), GoalVerdict::kMet);
    EXPECT_EQ(Throughput(Row(600, 10, 5000, 900)), GoalVerdict::kMet);
    // Offered enough, delivered too few or lost some: the service fell short.
    EXPECT_EQ(Throughput(Row(6000, 1, 4999, 900)), GoalVerdict::kMissed);
    EXPECT_EQ(Throughput(Row(6000, 1, 5500, 900, 1)), GoalVerdict::kMissed);
    EXPECT_EQ(Throughput(Row(500, 10, 4000, 900)), GoalVerdict::kMissed);
    // The publishers offered less than the goal: the run does not say.
    EXPECT_EQ(Throughput(Row(2500, 1, 2500, 10)), GoalVerdict::kNotJudged);
    EXPECT_EQ(Throughput(Row(499, 10, 4990, 10)), GoalVerdict::kNotJudged);
}

TEST(JudgeWebhookGoals, LatencyIsJudgedAtTheGoalsRate) {
    // At 2,500 deliveries/s offered, either way.
    EXPECT_EQ(Latency(Row(2500, 1, 2500, 99.9)), GoalVerdict::kMet);
    EXPECT_EQ(Latency(Row(250, 10, 2500, 100)), GoalVerdict::kMet);
    EXPECT_EQ(Latency(Row(250, 10, 2500, 100.1)), GoalVerdict::kMissed);
    EXPECT_EQ(Latency(Row(2500, 1, 2500, 20, 3)), GoalVerdict::kMissed);
    // Within the tolerance of the goal's rate.
    EXPECT_EQ(Latency(Row(2451, 1, 2451, 50)), GoalVerdict::kMet);
    EXPECT_EQ(Latency(Row(2549, 1, 2549, 150)), GoalVerdict::kMissed);
    // Holding above the rate is conclusive, failing above it is not.
    EXPECT_EQ(Latency(Row(8000, 1, 8000, 40)), GoalVerdict::kMet);
    EXPECT_EQ(Latency(Row(8000, 1, 8000, 400)), GoalVerdict::kNotJudged);
    // Failing below the rate is conclusive, holding below it is not.
    EXPECT_EQ(Latency(Row(100, 10, 1000, 400)), GoalVerdict::kMissed);
    EXPECT_EQ(Latency(Row(100, 10, 1000, 40)), GoalVerdict::kNotJudged);
}

TEST(JudgeWebhookGoals, NamesTheGoalsAndSaysWhy) {
    const auto checks = JudgeWebhookGoals(Row(250, 10, 2480, 42.5));
    ASSERT_EQ(checks.size(), 2u);
    EXPECT_EQ(checks[0].goal, ">= 5000 deliveries/s");
    EXPECT_NE(checks[0].reason.find("only 2500.0 deliveries/s offered"), std::string::npos)
        << checks[0].reason;
    EXPECT_EQ(checks[1].goal, "p99 <= 100 ms at 2500 deliveries/s");
    EXPECT_EQ(checks[1].reason, "p99 42.5 ms at 2500.0 deliveries/s offered");
    EXPECT_EQ(GoalVerdictName(checks[1].verdict), "met");
}

WebhookReport Report(bool with_cpu) {
    WebhookSummaryRow row =
        SummarizeWebhookScenario("fanout10", Book(10, 1'000, 1'000), 1000, 1.0, 0);
    row.drained = true;
    row.attributes = {{"event type", "bench.r1.fanout10.created"}};
    if (with_cpu) {
        CpuUsage cpu;
        cpu.window_s = 1.5;
        cpu.busy_share = 0.5;
        cpu.steal_share = 0.125;
        cpu.process_seconds = {{"webhook-service", 1.0}, {"postgres", 2.0}};
        row.cpu = cpu;
    }
    return WebhookReport{"smoke", {{"run", "r1"}}, {row}, ReceiverCounters{}};
}

TEST(FormatWebhookText, PrintsEachScenarioTheSummaryAndTheGoals) {
    const std::string text = FormatWebhookText(Report(false));
    EXPECT_EQ(text.rfind("bench webhook  label=smoke  run=r1\n== fanout10 ==\n", 0), 0u) << text;
    EXPECT_NE(text.find("  event type  bench.r1.fanout10.created\n"), std::string::npos) << text;
    EXPECT_NE(text.find("1000.0 events/s offered; published 1000"), std::string::npos) << text;
    EXPECT_NE(text.find("expected 10000, received 10000, missing 0, duplicates 0"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("10000.0 deliveries/s sustained"), std::string::npos) << text;
    EXPECT_NE(text.find("p99 1.000"), std::string::npos) << text;
    EXPECT_NE(text.find(">= 5000 deliveries/s: met"), std::string::npos) << text;
    // p99 1 ms at 10,000 deliveries/s offered: above the goal's rate, so it holds at it too.
    EXPECT_NE(text.find("p99 <= 100 ms at 2500 deliveries/s: met (p99 1.0 ms at 10000.0 "
                        "deliveries/s offered)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("== summary ==\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  fanout10         10     1000.0       10000.0     1.000"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("cpu per delivery"), std::string::npos) << text;
    EXPECT_EQ(text.find("(the drain timeout passed first)"), std::string::npos) << text;
    EXPECT_EQ(text.back(), '\n');
}

TEST(FormatWebhookText, AddsCpuPerDeliveryWhenWatched) {
    const std::string text = FormatWebhookText(Report(true));
    // 1 CPU-second over 10,000 deliveries is 100 us each; 2 s is 200 us; 300 in all.
    EXPECT_NE(text.find("webhook-service 100.0, postgres 200.0, total 300.0; busy 50.0%, "
                        "steal 12.5% over 1.50s"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("cpu per delivery (microseconds"), std::string::npos) << text;
    EXPECT_NE(text.find("  fanout10            100.0           200.0     300.0      50.0      "
                        "12.5\n"),
              std::string::npos)
        << text;
}

TEST(FormatWebhookText, SaysWhenTheDrainTimedOutAndWhatTheReceiverRefused) {
    WebhookReport report = Report(false);
    report.rows[0].drained = false;
    report.receiver = {3, 1};
    const std::string text = FormatWebhookText(report);
    EXPECT_NE(text.find("(the drain timeout passed first)"), std::string::npos) << text;
    EXPECT_NE(text.find("receiver: 3 stray requests"), std::string::npos) << text;
    EXPECT_NE(text.find("1 malformed"), std::string::npos) << text;
}

TEST(FormatWebhookText, BlamesAnInterruptNotTheDrainTimeoutWhenStopped) {
    WebhookReport report = Report(false);
    report.rows[0].drained = false;
    report.rows[0].interrupted = true;
    const std::string text = FormatWebhookText(report);
    EXPECT_NE(text.find("(interrupted before every delivery arrived)"), std::string::npos) << text;
    EXPECT_EQ(text.find("(the drain timeout passed first)"), std::string::npos) << text;
    EXPECT_NE(text.find("failed 0 (interrupted)"), std::string::npos) << text;
}

TEST(FormatWebhookJson, CarriesEveryNumberAndTheGoals) {
    const auto json = nlohmann::json::parse(FormatWebhookJson(Report(true)));
    EXPECT_EQ(json["scenario"], "webhook");
    EXPECT_EQ(json["label"], "smoke");
    EXPECT_EQ(json["attributes"]["run"], "r1");
    EXPECT_EQ(json["receiver"]["stray"], 0);
    ASSERT_EQ(json["summary"].size(), 1u);
    const auto& row = json["summary"][0];
    EXPECT_EQ(row["scenario"], "fanout10");
    EXPECT_EQ(row["endpoints"], 10);
    EXPECT_DOUBLE_EQ(row["rate_per_second"].get<double>(), 1000.0);
    EXPECT_EQ(row["deliveries"]["expected"], 10000);
    EXPECT_EQ(row["deliveries"]["missing"], 0);
    EXPECT_DOUBLE_EQ(row["deliveries_per_s"].get<double>(), 10000.0);
    EXPECT_EQ(row["drained"], true);
    EXPECT_DOUBLE_EQ(row["latency_ms"]["p99"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(row["cpu"]["micros_per_delivery"]["total"].get<double>(), 300.0);
    EXPECT_DOUBLE_EQ(row["cpu"]["steal_share"].get<double>(), 0.125);
    ASSERT_EQ(row["goals"].size(), 2u);
    EXPECT_EQ(row["goals"][0]["verdict"], "met");
    EXPECT_EQ(row["goals"][1]["verdict"], "met");
}

TEST(FormatWebhookJson, AnUnpacedRunHasANullRate) {
    WebhookReport report = Report(false);
    report.rows[0].rate_per_second = 0;
    const auto json = nlohmann::json::parse(FormatWebhookJson(report));
    EXPECT_TRUE(json["summary"][0]["rate_per_second"].is_null());
    EXPECT_FALSE(json["summary"][0].contains("cpu"));
}

}  // namespace
}  // namespace bench
