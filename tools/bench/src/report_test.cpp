#include "bench/report.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace bench {
namespace {

using namespace std::chrono_literals;

LoadResult SampleResult() {
    LoadResult result;
    result.label = "GET /v1/x";
    result.attributes = {{"method", "GET"}, {"url", "http://127.0.0.1:1/v1/x"}};
    result.settings.connections = 8;
    result.settings.duration = 2s;
    result.settings.warmup = 0s;
    result.settings.rate_per_second = 100.0;
    result.offered = 200;
    result.dropped = 2;
    result.sent = 198;
    result.completed = 195;
    result.ok = 190;
    result.status_counts = {{200, 190}, {404, 4}, {503, 1}};
    result.http_errors = {{404, 4}, {503, 1}};
    result.transport_errors[static_cast<std::size_t>(TransportError::kTimeout)] = 2;
    result.transport_errors[static_cast<std::size_t>(TransportError::kClosed)] = 1;
    result.connections_opened = 9;
    result.measured = 2s;
    for (int i = 1; i <= 195; ++i) result.latency.RecordMicros(static_cast<std::uint64_t>(i) * 10);
    return result;
}

RunReport SampleReport() {
    return RunReport{"http", "smoke", {{"seed", "7"}, {"unique_prefix", "abc"}}, {SampleResult()}};
}

TEST(LoadResult, CountsErrorsFromResponsesAndTransport) {
    LoadResult result = SampleResult();
    EXPECT_EQ(result.transport_error_total(), 3u);
    EXPECT_EQ(result.errors(), 5u + 3u);
    EXPECT_FALSE(result.target_unreachable());
    LoadResult unreachable;
    unreachable.connect_failures = 3;
    EXPECT_TRUE(unreachable.target_unreachable());
}

TEST(FormatJson, HasEveryFigureTheIssueAsksFor) {
    auto json = nlohmann::json::parse(FormatJson(SampleReport()));
    EXPECT_EQ(json["scenario"], "http");
    EXPECT_EQ(json["label"], "smoke");
    EXPECT_EQ(json["attributes"]["seed"], "7");
    ASSERT_EQ(json["results"].size(), 1u);
    const auto& result = json["results"][0];
    EXPECT_EQ(result["attributes"]["url"], "http://127.0.0.1:1/v1/x");
    EXPECT_EQ(result["settings"]["model"], "open");
    EXPECT_EQ(result["settings"]["rate_per_s"], 100.0);
    EXPECT_EQ(result["requests"]["sent"], 198);
    EXPECT_EQ(result["requests"]["completed"], 195);
    EXPECT_EQ(result["requests"]["ok"], 190);
    EXPECT_EQ(result["requests"]["errors"], 8);
    EXPECT_EQ(result["requests"]["dropped"], 2);
    EXPECT_EQ(result["errors"]["http_by_status"]["404"], 4);
    EXPECT_EQ(result["errors"]["http_by_class"]["4xx"], 4);
    EXPECT_EQ(result["errors"]["http_by_class"]["5xx"], 1);
    EXPECT_EQ(result["errors"]["transport"]["timeout"], 2);
    EXPECT_EQ(result["errors"]["transport"]["closed"], 1);
    EXPECT_EQ(result["errors"]["transport"]["connect"], 0);
    EXPECT_EQ(result["status_counts"]["200"], 190);
    EXPECT_DOUBLE_EQ(result["duration_s"].get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(result["throughput"]["completed_per_s"].get<double>(), 97.5);
    EXPECT_DOUBLE_EQ(result["throughput"]["ok_per_s"].get<double>(), 95.0);
    EXPECT_DOUBLE_EQ(result["rate"]["offered_per_s"].get<double>(), 100.0);
    EXPECT_DOUBLE_EQ(result["rate"]["achieved_per_s"].get<double>(), 99.0);
    const auto& latency = result["latency_ms"];
    EXPECT_EQ(latency["samples"], 195);
    EXPECT_DOUBLE_EQ(latency["max"].get<double>(), 1.95);
    EXPECT_NEAR(latency["p50"].get<double>(), 0.98, 0.01);
    for (const char* key : {"p90", "p99", "p99_9", "min", "mean"}) {
        EXPECT_TRUE(latency.contains(key)) << key;
    }
}

TEST(FormatJson, OmitsRateForTheClosedModel) {
    RunReport report = SampleReport();
    report.results[0].settings.rate_per_second.reset();
    auto json = nlohmann::json::parse(FormatJson(report));
    EXPECT_FALSE(json["results"][0].contains("rate"));
    EXPECT_TRUE(json["results"][0]["settings"]["rate_per_s"].is_null());
    EXPECT_EQ(json["results"][0]["settings"]["model"], "closed");
}

TEST(FormatJson, SurvivesAnEmptyResult) {
    RunReport report{"http", "", {}, {LoadResult{}}};
    auto json = nlohmann::json::parse(FormatJson(report));
    EXPECT_EQ(json["results"][0]["throughput"]["ok_per_s"], 0.0);
    EXPECT_EQ(json["results"][0]["latency_ms"]["p99"], 0.0);
}

TEST(FormatText, ShowsCountsRatesLatencyAndErrors) {
    std::string text = FormatText(SampleReport());
    for (std::string_view expected : {
             "bench http (smoke)  seed=7  unique_prefix=abc",
             "== GET /v1/x ==",
             "url         http://127.0.0.1:1/v1/x",
             "open model, 100.0 req/s offered, up to 8 connections, 1 thread",
             "sent 198, completed 195, ok 190, errors 8",
             "97.5 completed/s, 95.0 ok/s",
             "offered 100.0/s (200 due), achieved 99.0/s, dropped 2",
             "p99.9 ",
             "max 1.950",
             "200: 190, 404: 4, 503: 1",
             "http 5 (4xx 4, 5xx 1), unexpected 0, connect 0, timeout 2, closed 1, protocol 0",
         }) {
        EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
    }
}

TEST(FormatText, SaysWhenInterruptedOrEmpty) {
    RunReport report{"http", "", {}, {LoadResult{}}};
    report.results[0].interrupted = true;
    report.results[0].settings.duration = 10s;
    std::string text = FormatText(report);
    EXPECT_NE(text.find("0.00s measured (interrupted; asked for 10s)"), std::string::npos) << text;
    EXPECT_NE(text.find("no responses"), std::string::npos) << text;
}

}  // namespace
}  // namespace bench
