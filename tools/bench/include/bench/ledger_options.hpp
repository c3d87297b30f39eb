#pragma once

// Command line of `bench ledger`.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/ledger_workload.hpp"
#include "bench/options.hpp"
#include "commons/result.hpp"

namespace bench {

struct LedgerCommand {
    CommonOptions common;
    std::vector<LedgerScenario> scenarios;
    // ledger-service's base URL; requests go to <url>/v1/...
    std::string url = "http://127.0.0.1:8081";
    // Unset: main falls back to PAYMENTS_DEV_API_KEY / PAYMENTS_DATABASE_URL.
    std::optional<std::string> api_key;
    std::optional<std::string> database_url;
    // The naive scenarios' own schema, created if missing; never the ledger's.
    std::string naive_schema = "bench_naive";
    std::uint32_t accounts = 10'000;
    std::uint32_t batch_size = 100;
    // Processes whose CPU per transaction is reported (--cpu-of; "none" for none).
    std::vector<std::string> cpu_processes = {"ledger-service", "postgres", "redis-server"};
    bool help = false;
};

// True for a PostgreSQL schema name bench may create: [a-z_][a-z0-9_]*, at most 63 bytes, not
// public, information_schema or a service's schema (ledger, payin, payout, webhook), and not
// starting with "pg_".
bool IsValidNaiveSchema(std::string_view name);

// Parses the arguments after "ledger". --scenario is required. A naive scenario refuses --rate
// (it runs the closed model only) and more than kNaiveConnectionsMax connections. --help sets
// `help` and skips validation. Does not check the URL or whether a key or database URL is
// available: main does, after applying the environment's defaults.
commons::Result<LedgerCommand, UsageError> ParseLedgerCommand(
    std::span<const std::string_view> args);

std::string_view LedgerUsage();

}  // namespace bench
