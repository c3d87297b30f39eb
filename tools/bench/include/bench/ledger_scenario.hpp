#pragma once

// `bench ledger`: sets up and runs the ledger scenarios (see ledger_workload.hpp) one after
// another with the same load settings, and summarizes them side by side.

#include <string>
#include <vector>

#include "bench/http_message.hpp"
#include "bench/ledger_report.hpp"
#include "bench/ledger_workload.hpp"
#include "bench/options.hpp"
#include "bench/report.hpp"
#include "bench/runner.hpp"

namespace bench {

struct LedgerRunSettings {
    // At least one; run in this order.
    std::vector<LedgerScenario> scenarios;
    // ledger-service's base URL and a key with scope ledger:write; used when a service
    // scenario is selected. url.target is the base path ("/" for none) and has no query.
    HttpUrl url;
    std::string url_text;
    std::string api_key;
    // PostgreSQL and the schema of the naive scenarios; used when one is selected.
    std::string database_url;
    std::string naive_schema;
    TransferPlan plan;
    // Processes whose CPU each scenario reports per transaction (CpuWindow); none when empty.
    std::vector<std::string> cpu_processes;
};

struct LedgerRunReport {
    RunReport report;  // one LoadResult per scenario run, labelled with the scenario's name
    std::vector<LedgerSummaryRow> rows;
    std::vector<LedgerRatio> ratios;
};

// Setup first: creates the service scenarios' accounts through POST /v1/accounts (200 or 201
// each, so re-runs reuse them) on a few parallel connections, and prepares the naive schema.
// Then loads each scenario in turn with `load`, and stops early after a load that a signal
// interrupted. Progress and hints (a 429 from the service's rate limit, the first database
// error of a naive load) go to `progress`.
// Throws TargetUnreachableError when ledger-service or PostgreSQL cannot be reached,
// std::runtime_error when setup is refused (e.g. an account exists with other fields), and
// what RunLoad throws.
LedgerRunReport RunLedgerScenarios(const LedgerRunSettings& settings, const LoadSettings& load,
                                   std::string label, const ProgressSink& progress);

}  // namespace bench
