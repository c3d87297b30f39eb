#include "bench/ledger_options.hpp"

#include <algorithm>
#include <charconv>

namespace bench {
namespace {

commons::Result<std::uint32_t, UsageError> CountValue(std::string_view flag, std::string_view value,
                                                      std::uint32_t low, std::uint32_t high) {
    std::uint32_t parsed = 0;
    const char* end = value.data() + value.size();
    auto [stop, error] = std::from_chars(value.data(), end, parsed);
    if (value.empty() || error != std::errc() || stop != end || parsed < low || parsed > high) {
        return UsageError{"--" + std::string(flag) + " " + std::string(value) +
                          ": expected a whole number from " + std::to_string(low) + " to " +
                          std::to_string(high)};
    }
    return parsed;
}

}  // namespace

bool IsValidNaiveSchema(std::string_view name) {
    // PostgreSQL truncates identifiers beyond 63 bytes; refusing keeps the name what was asked.
    constexpr std::size_t kIdentifierBytesMax = 63;
    if (name.empty() || name.size() > kIdentifierBytesMax) return false;
    // The services' own schemas and PostgreSQL's: the naive tables must never land there.
    constexpr std::string_view kReserved[] = {"public", "ledger",  "payin",
                                              "payout", "webhook", "information_schema"};
    if (std::find(std::begin(kReserved), std::end(kReserved), name) != std::end(kReserved) ||
        name.starts_with("pg_")) {
        return false;
    }
    if (!(name.front() == '_' || (name.front() >= 'a' && name.front() <= 'z'))) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    });
}

commons::Result<LedgerCommand, UsageError> ParseLedgerCommand(
    std::span<const std::string_view> args) {
    LedgerCommand command;
    bool scenario_given = false;
    ArgReader reader(args);
    while (!reader.done()) {
        auto flag_result = reader.NextFlag();
        if (!flag_result) return flag_result.error();
        const std::string_view flag = flag_result.value();
        if (flag == "help") {
            command.help = true;
            return command;
        }
        auto common = ParseCommonFlag(flag, reader, command.common);
        if (!common) return common.error();
        if (common.value()) continue;

        auto value_result = reader.Value();
        if (!value_result) return value_result.error();
        const std::string_view value = value_result.value();
        if (flag == "scenario") {
            auto scenarios = ParseLedgerScenarios(value);
            if (!scenarios) return UsageError{"--scenario: " + scenarios.error()};
            command.scenarios = std::move(scenarios).value();
            scenario_given = true;
        } else if (flag == "url") {
            command.url = std::string(value);
        } else if (flag == "api-key") {
            command.api_key = std::string(value);
        } else if (flag == "database-url") {
            command.database_url = std::string(value);
        } else if (flag == "naive-schema") {
            if (!IsValidNaiveSchema(value)) {
                return UsageError{"--naive-schema " + std::string(value) +
                                  ": expected a schema name of a-z, 0-9 and _ (not starting "
                                  "with a digit or pg_, not public nor a service's schema), at "
                                  "most 63 characters"};
            }
            command.naive_schema = std::string(value);
        } else if (flag == "accounts") {
            auto count = CountValue(flag, value, kLedgerAccountsMin, kLedgerAccountsMax);
            if (!count) return count.error();
            command.accounts = count.value();
        } else if (flag == "batch-size") {
            auto count = CountValue(flag, value, 1, kLedgerBatchSizeMax);
            if (!count) return count.error();
            command.batch_size = count.value();
        } else if (flag == "cpu-of") {
            auto names = ParseCpuOf(value);
            if (!names) return names.error();
            command.cpu_processes = std::move(names).value();
        } else {
            return UsageError{"unknown flag --" + std::string(flag) +
                              " for `bench ledger`; see bench ledger --help"};
        }
    }
    if (!scenario_given) {
        return UsageError{
            "--scenario is required, e.g. --scenario all or --scenario uniform,naive"};
    }
    const bool naive = std::any_of(command.scenarios.begin(), command.scenarios.end(), IsNaive);
    if (naive && command.common.load.rate_per_second) {
        return UsageError{"--rate is not supported by the naive scenarios (closed model only)"};
    }
    if (naive && command.common.load.connections > kNaiveConnectionsMax) {
        return UsageError{"--concurrency " + std::to_string(command.common.load.connections) +
                          ": the naive scenarios open one PostgreSQL connection each, at most " +
                          std::to_string(kNaiveConnectionsMax)};
    }
    return command;
}

std::string_view LedgerUsage() {
    return R"(usage: bench ledger --scenario LIST [flags]

Measures ledger transfers: through ledger-service's HTTP API, and the same transfers done the
naive way straight against PostgreSQL, one after another with the same load settings, then
prints transactions/s and p50/p99 latency side by side with their ratios.

scenarios (--scenario, comma-separated, or all):
  uniform     POST /v1/transactions, each a 2-entry transfer between two random accounts
  hot         POST /v1/transactions, every transfer between bench_hot_a and bench_hot_b
  batch       POST /v1/transactions/batch, --batch-size uniform transfers per request
              (transactions/s counts every transfer of an ok request)
  naive       uniform transfers from one connection per --concurrency, each its own database
              transaction: SELECT ... ORDER BY id FOR UPDATE the two accounts, INSERT the
              transaction and its two entries, UPDATE both balances, COMMIT
  naive-hot   the naive transfers between bench_hot_a and bench_hot_b
  all         all of the above, in this order

Setup (before any load): the service scenarios create their accounts through
POST /v1/accounts (bench_u_0 .. bench_u_<accounts-1>, bench_hot_a, bench_hot_b; USD,
debit-normal, no flags; existing ones are reused); the naive ones create --naive-schema with
accounts(id, balance), transactions(id, created_at) and entries(id, transaction_id,
account_id, direction, amount), and seed the same account ids. Start ledger-service with
PAYMENTS_RATE_LIMIT_PER_SECOND=0, or its per-key rate limit (1000/s by default) answers 429.

ledger:
  --url URL            ledger-service base URL                         [http://127.0.0.1:8081]
  --api-key KEY        bearer key with scope ledger:write   [$PAYMENTS_DEV_API_KEY]
  --database-url URL   PostgreSQL for the naive scenarios   [$PAYMENTS_DATABASE_URL]
  --naive-schema NAME  the naive scenarios' schema                     [bench_naive]
  --accounts N         accounts of the uniform and batch transfers     [10000, 2 to 1000000]
  --batch-size N       transfers per batch request                     [100, 1 to 1000]
  --cpu-of LIST        processes whose CPU per transaction is reported, by command name,
                       or none                  [ledger-service,postgres,redis-server]
                       Also reported: the machine's busy and steal shares. On a shared
                       virtual machine throughput follows the neighbours; CPU per
                       transaction does much less, so compare designs by it too.
  --seed N (below) also draws the accounts of every uniform transfer.

)";
}

}  // namespace bench
