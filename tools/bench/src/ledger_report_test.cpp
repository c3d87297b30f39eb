#include "bench/ledger_report.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace bench {
namespace {

using namespace std::chrono_literals;

LoadResult Result(std::string label, std::uint64_t ok, std::chrono::nanoseconds measured,
                  std::uint64_t latency_micros = 1000) {
    LoadResult result;
    result.label = std::move(label);
    result.sent = ok + 1;
    result.completed = ok + 1;
    result.ok = ok;
    result.unexpected = 1;
    result.measured = measured;
    for (std::uint64_t i = 0; i < result.completed; ++i)
        result.latency.RecordMicros(latency_micros);
    return result;
}

TEST(SummarizeLedgerResult, CountsTransactionsPerOkRequest) {
    const LedgerSummaryRow batch = SummarizeLedgerResult(Result("batch", 50, 2s, 20'000), 100);
    EXPECT_EQ(batch.scenario, "batch");
    EXPECT_EQ(batch.requests_ok, 50u);
    EXPECT_EQ(batch.transactions_ok, 5000u);
    EXPECT_EQ(batch.errors, 1u);
    EXPECT_DOUBLE_EQ(batch.transactions_per_s, 2500.0);
    EXPECT_DOUBLE_EQ(batch.latency_ms_p50, 20.0);
    EXPECT_DOUBLE_EQ(batch.latency_ms_p99, 20.0);

    const LedgerSummaryRow single = SummarizeLedgerResult(Result("uniform", 3000, 10s), 1);
    EXPECT_EQ(single.transactions_ok, 3000u);
    EXPECT_DOUBLE_EQ(single.transactions_per_s, 300.0);
}

TEST(SummarizeLedgerResult, AnEmptyWindowHasNoThroughput) {
    const LedgerSummaryRow row = SummarizeLedgerResult(Result("hot", 0, 0s), 1);
    EXPECT_EQ(row.transactions_per_s, 0.0);
}

std::vector<LedgerSummaryRow> Rows() {
    return {SummarizeLedgerResult(Result("uniform", 2000, 1s), 1),
            SummarizeLedgerResult(Result("hot", 500, 1s), 1),
            SummarizeLedgerResult(Result("batch", 80, 1s), 100),
            SummarizeLedgerResult(Result("naive", 1000, 1s), 1),
            SummarizeLedgerResult(Result("naive-hot", 250, 1s), 1)};
}

TEST(LedgerRatios, ComparesTheScenariosThatRan) {
    const auto ratios = LedgerRatios(Rows());
    ASSERT_EQ(ratios.size(), 5u);
    EXPECT_EQ(ratios[0].name, "uniform/naive");
    EXPECT_DOUBLE_EQ(ratios[0].value, 2.0);
    EXPECT_EQ(ratios[1].name, "hot/uniform");
    EXPECT_DOUBLE_EQ(ratios[1].value, 0.25);
    EXPECT_EQ(ratios[2].name, "batch/uniform");
    EXPECT_DOUBLE_EQ(ratios[2].value, 4.0);
    EXPECT_EQ(ratios[3].name, "hot/naive-hot");
    EXPECT_DOUBLE_EQ(ratios[3].value, 2.0);
    EXPECT_EQ(ratios[4].name, "naive-hot/naive");
    EXPECT_DOUBLE_EQ(ratios[4].value, 0.25);
}

TEST(LedgerRatios, SkipsMissingScenariosAndZeroDenominators) {
    std::vector<LedgerSummaryRow> rows = {SummarizeLedgerResult(Result("uniform", 10, 1s), 1),
                                          SummarizeLedgerResult(Result("naive", 0, 1s), 1)};
    EXPECT_TRUE(LedgerRatios(rows).empty());
    rows.pop_back();
    EXPECT_TRUE(LedgerRatios(rows).empty());
}

TEST(FormatLedgerSummaryText, ListsEveryRowAndTheRatios) {
    const auto rows = Rows();
    const std::string text = FormatLedgerSummaryText(rows, LedgerRatios(rows));
    EXPECT_EQ(text.rfind("== summary ==\n", 0), 0u) << text;
    EXPECT_NE(text.find("transactions/s"), std::string::npos);
    EXPECT_NE(text.find("  uniform            2000.0      1.000      1.000           1         "
                        "2000        1\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("  batch              8000.0"), std::string::npos) << text;
    EXPECT_NE(text.find("uniform/naive 2.00x"), std::string::npos) << text;
    EXPECT_NE(text.find("hot/uniform 0.25x"), std::string::npos) << text;
    EXPECT_EQ(text.back(), '\n');
}

LedgerSummaryRow RowWithCpu(double transactions_per_s) {
    LedgerSummaryRow row = SummarizeLedgerResult(Result("uniform", 2000, 1s), 1);
    EXPECT_DOUBLE_EQ(row.transactions_per_s, 2000.0);
    row.transactions_per_s = transactions_per_s;
    CpuUsage cpu;
    cpu.window_s = 2.0;
    cpu.busy_share = 0.75;
    cpu.steal_share = 0.25;
    cpu.process_seconds = {{"ledger-service", 1.0}, {"postgres", 3.0}};
    row.cpu = cpu;
    return row;
}

TEST(LedgerSummaryRow, CpuPerTransactionIsTheCpuRateOverTheTransactionRate) {
    const LedgerSummaryRow row = RowWithCpu(1000);
    // 1 CPU-second over a 2 s window is 0.5 CPU-s/s; at 1,000 transactions/s, 500 us each.
    EXPECT_DOUBLE_EQ(row.MicrosPerTransaction(1.0), 500.0);
    EXPECT_DOUBLE_EQ(row.MicrosPerTransaction(row.cpu->total_process_seconds()), 2000.0);
    LedgerSummaryRow idle = RowWithCpu(0);
    EXPECT_DOUBLE_EQ(idle.MicrosPerTransaction(1.0), 0.0);
    idle.cpu.reset();
    EXPECT_DOUBLE_EQ(idle.MicrosPerTransaction(1.0), 0.0);
}

TEST(FormatLedgerSummaryText, AddsACpuTableWhenWatched) {
    const std::string text = FormatLedgerSummaryText({RowWithCpu(1000)}, {});
    EXPECT_NE(text.find("cpu per transaction"), std::string::npos) << text;
    EXPECT_NE(text.find("ledger-service"), std::string::npos) << text;
    EXPECT_NE(text.find("500.0"), std::string::npos) << text;   // the service
    EXPECT_NE(text.find("1500.0"), std::string::npos) << text;  // postgres
    EXPECT_NE(text.find("2000.0"), std::string::npos) << text;  // total
    EXPECT_NE(text.find("25.0"), std::string::npos) << text;    // steal %
    const std::string without =
        FormatLedgerSummaryText({SummarizeLedgerResult(Result("uniform", 10, 1s), 1)}, {});
    EXPECT_EQ(without.find("cpu per transaction"), std::string::npos) << without;
}

TEST(FormatLedgerJson, AddsCpuPerTransactionWhenWatched) {
    RunReport report{"ledger", "cpu", {}, {Result("uniform", 2000, 1s)}};
    const auto json = nlohmann::json::parse(FormatLedgerJson(report, {RowWithCpu(1000)}, {}));
    const auto& cpu = json["summary"][0]["cpu"];
    EXPECT_DOUBLE_EQ(cpu["window_s"].get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(cpu["steal_share"].get<double>(), 0.25);
    EXPECT_DOUBLE_EQ(cpu["micros_per_transaction"]["postgres"].get<double>(), 1500.0);
    EXPECT_DOUBLE_EQ(cpu["micros_per_transaction"]["total"].get<double>(), 2000.0);
}

TEST(FormatLedgerJson, AddsSummaryAndRatiosToTheReport) {
    const auto rows = Rows();
    RunReport report{"ledger", "smoke", {{"seed", "1"}}, {Result("uniform", 2000, 1s)}};
    const auto json = nlohmann::json::parse(FormatLedgerJson(report, rows, LedgerRatios(rows)));
    EXPECT_EQ(json["scenario"], "ledger");
    EXPECT_EQ(json["results"].size(), 1u);
    ASSERT_EQ(json["summary"].size(), 5u);
    EXPECT_EQ(json["summary"][2]["scenario"], "batch");
    EXPECT_EQ(json["summary"][2]["transactions_per_request"], 100);
    EXPECT_EQ(json["summary"][2]["transactions_ok"], 8000);
    EXPECT_DOUBLE_EQ(json["summary"][2]["transactions_per_s"].get<double>(), 8000.0);
    EXPECT_DOUBLE_EQ(json["summary"][0]["latency_ms"]["p99"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(json["ratios"]["uniform/naive"].get<double>(), 2.0);
}

}  // namespace
}  // namespace bench
