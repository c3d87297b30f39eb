#pragma once

// The naive baseline of `bench ledger`: the same transfers as the ledger scenarios, done the
// way a first design would, straight against PostgreSQL from a pool of connections, one
// database transaction per transfer, one statement per step. Its own schema and tables, never
// the ledger's.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "bench/engine.hpp"
#include "bench/ledger_workload.hpp"
#include "bench/options.hpp"
#include "bench/scenario.hpp"

namespace bench {

// Where the naive scenarios run. `schema` must satisfy IsValidNaiveSchema.
struct NaiveDatabase {
    std::string url;  // libpq URL or key=value string
    std::string schema;
};

// Creates the schema and its tables if missing —
//   accounts(id text pk, balance bigint)        balance = debits − credits
//   transactions(id text pk, created_at timestamptz)
//   entries(id bigserial pk, transaction_id → transactions, account_id → accounts,
//           direction 'debit'|'credit', amount bigint > 0), indexed by account_id
// — and inserts the accounts that are missing: bench_u_0 .. bench_u_<accounts-1>,
// bench_hot_a and bench_hot_b, with balance 0. Rows of earlier runs are kept. Throws
// commons::DatabaseUnavailableError when PostgreSQL cannot be reached, pqxx errors otherwise.
void PrepareNaiveSchema(const NaiveDatabase& database, std::uint32_t accounts);

// Makes transfer `seq` (0-based, each used once per load). Called concurrently.
using TransferSource = std::function<Transfer(std::uint64_t seq)>;

struct NaiveWorkload {
    std::string label;
    TransferSource make_transfer;
    Attributes attributes;
};

struct NaiveLoadResult {
    // sent: transfers started in the measured window; completed = sent; ok: committed;
    // unexpected: rolled back on a database error. connections_opened / connect_failures count
    // the pool's connections. No HTTP statuses or transport errors.
    LoadResult load;
    // The first database error of the load, for the user; unset when there was none.
    std::optional<std::string> first_error;
};

// Opens settings.connections connections (one thread each, the closed model), then runs
// transfers for settings.warmup + settings.duration: per transfer BEGIN; SELECT the two
// accounts ORDER BY id FOR UPDATE; INSERT the transaction; INSERT its two entries; UPDATE the
// debited and the credited balance; COMMIT. Latency is from BEGIN to the end of COMMIT.
// settings.request_timeout is every statement's statement_timeout. SIGINT or SIGTERM ends the
// load early with what was measured (a second one exits the process at once; PostgreSQL rolls
// back what was in flight). Throws TargetUnreachableError when no connection could be opened.
// Preconditions: no rate (closed model only), 1 <= connections <= kNaiveConnectionsMax.
NaiveLoadResult RunNaiveLoad(const LoadSettings& settings, const NaiveDatabase& database,
                             const NaiveWorkload& workload);

}  // namespace bench
