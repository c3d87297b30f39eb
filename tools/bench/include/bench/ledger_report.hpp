#pragma once

// The side-by-side summary `bench ledger` prints after the per-scenario reports: transactions
// per second and request latency of each scenario, and the ratios between them.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/cpu_usage.hpp"
#include "bench/engine.hpp"
#include "bench/report.hpp"

namespace bench {

// One scenario's line. Transactions are counted per ok request (a batch request carries
// `transactions_per_request`); latency is per request, from the same histogram as the full
// report.
struct LedgerSummaryRow {
    std::string scenario;
    std::uint32_t transactions_per_request = 1;
    std::uint64_t requests_ok = 0;
    std::uint64_t transactions_ok = 0;
    std::uint64_t errors = 0;
    double transactions_per_s = 0;
    double latency_ms_p50 = 0;
    double latency_ms_p99 = 0;
    // CPU of the watched processes over (about) the measured window; unset when not watched.
    std::optional<CpuUsage> cpu;

    // CPU microseconds `seconds` of CPU per second of window works out to per transaction at
    // this row's rate; 0 without transactions.
    double MicrosPerTransaction(double cpu_seconds) const;
};

// Precondition: transactions_per_request >= 1.
LedgerSummaryRow SummarizeLedgerResult(const LoadResult& result,
                                       std::uint32_t transactions_per_request);

// numerator.transactions_per_s / denominator.transactions_per_s, named "numerator/denominator".
struct LedgerRatio {
    std::string name;
    double value = 0;
};

// The comparisons worth reading, for those whose two scenarios both ran and whose denominator
// is not 0: uniform/naive (the service against the naive design), hot/uniform (the cost of one
// contended pair), batch/uniform (what batching buys), hot/naive-hot and naive-hot/naive.
std::vector<LedgerRatio> LedgerRatios(const std::vector<LedgerSummaryRow>& rows);

// A fixed-width table, one line per row, then the ratios; with CPU watched, a second table of
// CPU per transaction by process and the machine's busy and steal shares. Ends with a newline.
std::string FormatLedgerSummaryText(const std::vector<LedgerSummaryRow>& rows,
                                    const std::vector<LedgerRatio>& ratios);

// FormatJson(report) with two more members: "summary" (one object per row: scenario,
// transactions_per_request, requests_ok, transactions_ok, errors, transactions_per_s,
// latency_ms {p50, p99}, and with CPU watched cpu {window_s, busy_share, steal_share,
// micros_per_transaction {<process>: ..., total}}) and "ratios" ({"uniform/naive": 1.8, ...}).
// One line.
std::string FormatLedgerJson(const RunReport& report, const std::vector<LedgerSummaryRow>& rows,
                             const std::vector<LedgerRatio>& ratios);

}  // namespace bench
