#include "bench/ledger_report.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "commons/assert.hpp"

namespace bench {
namespace {

double Millis(std::uint64_t micros) { return static_cast<double>(micros) / 1000.0; }

const LedgerSummaryRow* Find(const std::vector<LedgerSummaryRow>& rows, const char* scenario) {
    auto found = std::find_if(rows.begin(), rows.end(), [scenario](const LedgerSummaryRow& row) {
        return row.scenario == scenario;
    });
    return found == rows.end() ? nullptr : &*found;
}

}  // namespace

LedgerSummaryRow SummarizeLedgerResult(const LoadResult& result,
                                       std::uint32_t transactions_per_request) {
    PAY_ASSERT(transactions_per_request >= 1);
    LedgerSummaryRow row;
    row.scenario = result.label;
    row.transactions_per_request = transactions_per_request;
    row.requests_ok = result.ok;
    row.transactions_ok = result.ok * transactions_per_request;
    row.errors = result.errors();
    const double seconds = std::chrono::duration<double>(result.measured).count();
    row.transactions_per_s = seconds > 0 ? static_cast<double>(row.transactions_ok) / seconds : 0;
    row.latency_ms_p50 = Millis(result.latency.PercentileMicros(0.50));
    row.latency_ms_p99 = Millis(result.latency.PercentileMicros(0.99));
    return row;
}

double LedgerSummaryRow::MicrosPerTransaction(double cpu_seconds) const {
    if (!cpu || transactions_per_s <= 0 || cpu->window_s <= 0) return 0;
    // CPU per second of the window over transactions per second of the measured window: the
    // two windows differ by moments, the rates do not.
    return cpu_seconds / cpu->window_s / transactions_per_s * 1e6;
}

std::vector<LedgerRatio> LedgerRatios(const std::vector<LedgerSummaryRow>& rows) {
    constexpr std::pair<const char*, const char*> kPairs[] = {
        {"uniform", "naive"}, {"hot", "uniform"},     {"batch", "uniform"},
        {"hot", "naive-hot"}, {"naive-hot", "naive"},
    };
    std::vector<LedgerRatio> ratios;
    for (const auto& [numerator, denominator] : kPairs) {
        const LedgerSummaryRow* top = Find(rows, numerator);
        const LedgerSummaryRow* bottom = Find(rows, denominator);
        if (top == nullptr || bottom == nullptr || bottom->transactions_per_s <= 0) continue;
        ratios.push_back({std::string(numerator) + "/" + denominator,
                          top->transactions_per_s / bottom->transactions_per_s});
    }
    return ratios;
}

std::string FormatLedgerSummaryText(const std::vector<LedgerSummaryRow>& rows,
                                    const std::vector<LedgerRatio>& ratios) {
    std::string out = "== summary ==\n";
    char line[160];
    std::snprintf(line, sizeof line, "  %-10s %14s %10s %10s %11s %12s %8s\n", "scenario",
                  "transactions/s", "p50 ms", "p99 ms", "tx/request", "requests ok", "errors");
    out += line;
    for (const LedgerSummaryRow& row : rows) {
        std::snprintf(line, sizeof line, "  %-10s %14.1f %10.3f %10.3f %11u %12llu %8llu\n",
                      row.scenario.c_str(), row.transactions_per_s, row.latency_ms_p50,
                      row.latency_ms_p99, row.transactions_per_request,
                      static_cast<unsigned long long>(row.requests_ok),
                      static_cast<unsigned long long>(row.errors));
        out += line;
    }
    if (!ratios.empty()) {
        out += "  ratios (transactions/s):";
        for (const LedgerRatio& ratio : ratios) {
            std::snprintf(line, sizeof line, "  %s %.2fx", ratio.name.c_str(), ratio.value);
            out += line;
        }
        out += '\n';
    }
    const auto watched =
        std::find_if(rows.begin(), rows.end(), [](const LedgerSummaryRow& row) { return row.cpu; });
    if (watched == rows.end()) return out;
    out += "  cpu per transaction (microseconds, over the measured window):\n";
    std::snprintf(line, sizeof line, "  %-10s", "scenario");
    out += line;
    for (const auto& [name, seconds] : watched->cpu->process_seconds) {
        std::snprintf(line, sizeof line, " %15s", name.c_str());
        out += line;
    }
    std::snprintf(line, sizeof line, " %9s %9s %9s\n", "total", "busy %", "steal %");
    out += line;
    for (const LedgerSummaryRow& row : rows) {
        if (!row.cpu) continue;
        out += CpuTableRow(row.scenario, 10, *row.cpu,
                           [&](double seconds) { return row.MicrosPerTransaction(seconds); });
    }
    return out;
}

std::string FormatLedgerJson(const RunReport& report, const std::vector<LedgerSummaryRow>& rows,
                             const std::vector<LedgerRatio>& ratios) {
    nlohmann::json json = nlohmann::json::parse(FormatJson(report));
    nlohmann::json summary = nlohmann::json::array();
    for (const LedgerSummaryRow& row : rows) {
        summary.push_back({
            {"scenario", row.scenario},
            {"transactions_per_request", row.transactions_per_request},
            {"requests_ok", row.requests_ok},
            {"transactions_ok", row.transactions_ok},
            {"errors", row.errors},
            {"transactions_per_s", row.transactions_per_s},
            {"latency_ms", {{"p50", row.latency_ms_p50}, {"p99", row.latency_ms_p99}}},
        });
        if (row.cpu) {
            nlohmann::json per_transaction = nlohmann::json::object();
            for (const auto& [name, seconds] : row.cpu->process_seconds) {
                per_transaction[name] = row.MicrosPerTransaction(seconds);
            }
            per_transaction["total"] = row.MicrosPerTransaction(row.cpu->total_process_seconds());
            summary.back()["cpu"] = {{"window_s", row.cpu->window_s},
                                     {"busy_share", row.cpu->busy_share},
                                     {"steal_share", row.cpu->steal_share},
                                     {"micros_per_transaction", std::move(per_transaction)}};
        }
    }
    json["summary"] = std::move(summary);
    nlohmann::json ratio_json = nlohmann::json::object();
    for (const LedgerRatio& ratio : ratios) ratio_json[ratio.name] = ratio.value;
    json["ratios"] = std::move(ratio_json);
    return json.dump();
}

}  // namespace bench
