#pragma once

// The transfers of `bench ledger`: which scenarios exist, which accounts and transaction ids
// each request uses, the request bodies, and how a response counts. Pure: no sockets, no
// database, so everything here is unit-tested.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/http_message.hpp"
#include "bench/scenario.hpp"
#include "bench/template.hpp"
#include "commons/result.hpp"

namespace bench {

// One measured load of `bench ledger`. The first three go through ledger-service's HTTP API;
// the naive ones run the same transfers straight against PostgreSQL, one database
// transaction per transfer, as a baseline for the service's design.
enum class LedgerScenario {
    kUniform,   // POST /v1/transactions, each between two random accounts of --accounts
    kHot,       // POST /v1/transactions, every one between the same two accounts
    kBatch,     // POST /v1/transactions/batch, --batch-size uniform transfers per request
    kNaive,     // uniform transfers, naive SQL
    kNaiveHot,  // hot transfers, naive SQL
};

// Every scenario, in the order `--scenario all` runs them.
inline constexpr LedgerScenario kAllLedgerScenarios[] = {
    LedgerScenario::kUniform, LedgerScenario::kHot, LedgerScenario::kBatch, LedgerScenario::kNaive,
    LedgerScenario::kNaiveHot};

// "uniform", "hot", "batch", "naive", "naive-hot".
std::string_view LedgerScenarioName(LedgerScenario scenario);

// True for the scenarios that talk to PostgreSQL instead of ledger-service.
bool IsNaive(LedgerScenario scenario);

// Parses a comma-separated list of scenario names, or "all". Duplicates are dropped (the first
// occurrence keeps its place); an empty item or an unknown name is an error naming it.
commons::Result<std::vector<LedgerScenario>, std::string> ParseLedgerScenarios(
    std::string_view list);

// Limits, each with its reason.
// Setup creates every account with its own HTTP request; a million already takes minutes.
inline constexpr std::uint32_t kLedgerAccountsMax = 1'000'000;
// A transfer needs two different accounts.
inline constexpr std::uint32_t kLedgerAccountsMin = 2;
// The ledger API's own limit on transactions per batch request.
inline constexpr std::uint32_t kLedgerBatchSizeMax = 1000;
// The naive scenarios open one PostgreSQL connection (a backend process) per --concurrency;
// the devstack's max_connections (200) is shared with the services and the tests.
inline constexpr std::uint32_t kNaiveConnectionsMax = 128;
// Every transfer moves this many minor units: the amount does not change the work done.
inline constexpr std::int64_t kTransferAmountMinor = 100;

// The accounts the scenarios use, in ledger-service and in the naive schema alike. Uniform
// accounts are "bench_u_<index>" for index in [0, accounts).
std::string UniformAccountId(std::uint32_t index);
inline constexpr std::string_view kHotAccountA = "bench_hot_a";
inline constexpr std::string_view kHotAccountB = "bench_hot_b";

// What every transfer of one run shares. Immutable once made, so safe to share across threads.
struct TransferPlan {
    // `seed` drives the account draws; `unique_prefix` makes transaction ids unique across runs.
    TemplateRun run;
    // Uniform transfers pick two different accounts among bench_u_0 .. bench_u_<accounts-1>.
    std::uint32_t accounts = 10'000;
    // Transfers per batch request.
    std::uint32_t batch_size = 100;
};

// One double-entry transfer: debit one account, credit another, the same amount.
struct Transfer {
    std::string transaction_id;
    std::string debit_account_id;
    std::string credit_account_id;
    std::int64_t amount_minor = kTransferAmountMinor;
};

// Transfer `item` (0 unless a batch) of request `seq` of `scenario`. Deterministic in (plan,
// scenario, seq, item). The transaction id is "bench_<unique prefix>_<tag><seq>[_<item>]" with
// a tag per scenario, so ids never collide within a run or across runs. Uniform-pattern
// scenarios draw two different accounts from plan.run.seed; hot ones use kHotAccountA and
// kHotAccountB, alternating which is debited. Preconditions: plan.accounts >= 2; item <
// plan.batch_size for kBatch, item == 0 otherwise.
Transfer MakeTransfer(const TransferPlan& plan, LedgerScenario scenario, std::uint64_t seq,
                      std::uint32_t item = 0);

// The ledger API's create-transaction body for `transfer` (ids need no JSON escaping: they are
// letters, digits, '_' and '-').
std::string TransferJson(const Transfer& transfer);

// Request `seq` of an HTTP scenario (kUniform, kHot or kBatch): POST <base>/v1/transactions or
// <base>/v1/transactions/batch with {"transactions": [plan.batch_size transfers]}, bearer
// `api_key`. `base_path` is the URL's path without a trailing '/' ("" for the root).
HttpRequest MakeLedgerRequest(const TransferPlan& plan, LedgerScenario scenario, std::uint64_t seq,
                              std::string_view base_path, std::string_view api_key);

// The body of POST /v1/accounts for a bench account: USD, debit-normal, no flags, so no
// transfer is ever refused for its balance.
std::string AccountJson(std::string_view account_id);

// Every account the ledger-service scenarios among `scenarios` need, each once: the uniform
// accounts for kUniform and kBatch, the two hot ones for kHot. Naive scenarios are ignored.
std::vector<std::string> ServiceAccountsFor(const std::vector<LedgerScenario>& scenarios,
                                            std::uint32_t accounts);

// A single create: 201 is ok; any other 2xx (200 is a replay, which a fresh id must never get)
// is unexpected; anything else is an HTTP error.
Verdict ClassifyCreated(const HttpResponse& response);

// A batch: ok when the answer is 200 with exactly `batch_size` results, each with status 201;
// another 2xx (a malformed body, a refused or replayed item) is unexpected; anything else is an
// HTTP error.
Verdict ClassifyBatch(const HttpResponse& response, std::uint32_t batch_size);

}  // namespace bench
