#include "bench/naive_ledger.hpp"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "commons/assert.hpp"
#include "commons/db.hpp"
#include "commons/db_transaction.hpp"

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Every statement of the naive design, in one place. "{schema}" stands for the quoted schema.
constexpr std::string_view kCreateSchemaSql = R"(
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.accounts (
    id text PRIMARY KEY,
    balance bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS {schema}.transactions (
    id text PRIMARY KEY,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.entries (
    id bigserial PRIMARY KEY,
    transaction_id text NOT NULL REFERENCES {schema}.transactions (id),
    account_id text NOT NULL REFERENCES {schema}.accounts (id),
    direction text NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount bigint NOT NULL CHECK (amount > 0)
);
CREATE INDEX IF NOT EXISTS entries_account_id ON {schema}.entries (account_id);
)";
constexpr std::string_view kSeedUniformAccountsSql =
    "INSERT INTO {schema}.accounts (id) SELECT 'bench_u_' || g FROM generate_series(0, $1::int - "
    "1) "
    "AS g ON CONFLICT (id) DO NOTHING";
constexpr std::string_view kSeedHotAccountsSql =
    "INSERT INTO {schema}.accounts (id) VALUES ($1), ($2) ON CONFLICT (id) DO NOTHING";

struct Statement {
    const char* name;
    std::string_view sql;
};
constexpr Statement kLockAccounts{
    "naive_lock_accounts",
    "SELECT id FROM {schema}.accounts WHERE id IN ($1, $2) ORDER BY id FOR UPDATE"};
constexpr Statement kInsertTransaction{
    "naive_insert_transaction",
    "INSERT INTO {schema}.transactions (id, created_at) VALUES ($1, now())"};
constexpr Statement kInsertEntries{
    "naive_insert_entries",
    "INSERT INTO {schema}.entries (transaction_id, account_id, direction, amount) "
    "VALUES ($1, $2, 'debit', $4), ($1, $3, 'credit', $4)"};
constexpr Statement kDebit{"naive_debit",
                           "UPDATE {schema}.accounts SET balance = balance + $2 WHERE id = $1"};
constexpr Statement kCredit{"naive_credit",
                            "UPDATE {schema}.accounts SET balance = balance - $2 WHERE id = $1"};
constexpr Statement kTransferStatements[] = {kLockAccounts, kInsertTransaction, kInsertEntries,
                                             kDebit, kCredit};

// Setup runs a handful of statements, the seed inserting up to a million rows.
constexpr auto kSetupStatementTimeout = std::chrono::minutes(2);
constexpr auto kConnectTimeout = std::chrono::seconds(5);
// How often the waiting thread looks at the signal count.
constexpr auto kSignalPollInterval = std::chrono::milliseconds(50);

std::string WithSchema(std::string_view sql, const std::string& quoted_schema) {
    constexpr std::string_view kPlaceholder = "{schema}";
    std::string out;
    std::size_t position = 0;
    for (std::size_t found; (found = sql.find(kPlaceholder, position)) != std::string_view::npos;
         position = found + kPlaceholder.size()) {
        out.append(sql.substr(position, found - position));
        out += quoted_schema;
    }
    out.append(sql.substr(position));
    return out;
}

// A schema name as an SQL identifier. IsValidNaiveSchema allows only [a-z0-9_], so double
// quotes suffice; they also keep a name that happens to be a keyword usable.
std::string QuoteSchema(const std::string& schema) { return "\"" + schema + "\""; }

// Signals seen during a naive load. A signal handler can reach nothing but a global; it is
// reset when a load starts and read by the thread waiting for the workers.
std::atomic<int> g_signals_seen{0};
static_assert(std::atomic<int>::is_always_lock_free, "used from a signal handler");

void OnSignal(int signal_number) {
    // The first signal ends the load gracefully; a second one leaves at once. Only
    // async-signal-safe calls here.
    if (g_signals_seen.fetch_add(1) >= 1) std::_Exit(128 + signal_number);
}

// Routes SIGINT and SIGTERM to OnSignal while it lives, then restores what was there.
class SignalScope {
  public:
    SignalScope() {
        g_signals_seen.store(0);
        struct sigaction action {};
        action.sa_handler = OnSignal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART;
        sigaction(SIGINT, &action, &previous_interrupt_);
        sigaction(SIGTERM, &action, &previous_terminate_);
    }
    ~SignalScope() {
        sigaction(SIGINT, &previous_interrupt_, nullptr);
        sigaction(SIGTERM, &previous_terminate_, nullptr);
    }
    SignalScope(const SignalScope&) = delete;
    SignalScope& operator=(const SignalScope&) = delete;

  private:
    struct sigaction previous_interrupt_ {};
    struct sigaction previous_terminate_ {};
};

struct Timeline {
    Clock::time_point measure_from;
    Clock::time_point end;
};

// One transfer in one database transaction; throws what libpqxx throws.
void ExecuteTransfer(pqxx::connection& connection, const Transfer& transfer) {
    pqxx::work transaction(connection);
    const pqxx::result locked = transaction.exec_prepared(
        kLockAccounts.name, transfer.debit_account_id, transfer.credit_account_id);
    if (locked.size() != 2) {
        throw std::runtime_error("account " + transfer.debit_account_id + " or " +
                                 transfer.credit_account_id + " is missing");
    }
    transaction.exec_prepared0(kInsertTransaction.name, transfer.transaction_id);
    transaction.exec_prepared0(kInsertEntries.name, transfer.transaction_id,
                               transfer.debit_account_id, transfer.credit_account_id,
                               transfer.amount_minor);
    transaction.exec_prepared0(kDebit.name, transfer.debit_account_id, transfer.amount_minor);
    transaction.exec_prepared0(kCredit.name, transfer.credit_account_id, transfer.amount_minor);
    transaction.commit();
}

// Everything the worker threads share.
struct Shared {
    const NaiveWorkload& workload;
    const std::string quoted_schema;
    commons::ConnectionPool& pool;
    std::latch connected;                   // every worker has connected, or failed to
    std::shared_future<Timeline> timeline;  // set once every worker is connected
    std::atomic<std::uint64_t> next_seq{0};
    std::atomic<bool> stop{false};

    std::mutex mutex;  // guards what follows
    std::condition_variable finished_changed;
    std::size_t finished = 0;
};

struct WorkerResult {
    LoadResult part;
    std::optional<std::string> first_error;
    std::exception_ptr failure;  // a bug (an exception that is not a database error)
};

void RecordError(WorkerResult& result, const std::exception& error) {
    if (!result.first_error) result.first_error = error.what();
}

void RunWorker(Shared& shared, WorkerResult& result) {
    std::optional<commons::ConnectionLease> lease;
    try {
        lease.emplace(shared.pool.Acquire());
        for (const Statement& statement : kTransferStatements) {
            lease->connection().prepare(statement.name,
                                        WithSchema(statement.sql, shared.quoted_schema));
        }
        ++result.part.connections_opened;
    } catch (const std::exception& error) {
        if (lease) lease->MarkBroken();
        lease.reset();
        ++result.part.connect_failures;
        RecordError(result, error);
    } catch (...) {
        // Not a database error: a bug, rethrown by RunNaiveLoad. The latch is still counted
        // down, or the other threads would wait for this one forever.
        result.failure = std::current_exception();
        lease.reset();
    }
    shared.connected.count_down();
    if (!lease) return;
    const Timeline timeline = shared.timeline.get();

    for (;;) {
        const Clock::time_point started = Clock::now();
        if (started >= timeline.end || shared.stop.load(std::memory_order_relaxed)) break;
        const bool measured = started >= timeline.measure_from;
        const Transfer transfer =
            shared.workload.make_transfer(shared.next_seq.fetch_add(1, std::memory_order_relaxed));
        bool committed = false;
        bool broken = false;
        try {
            ExecuteTransfer(lease->connection(), transfer);
            committed = true;
        } catch (const pqxx::broken_connection& error) {
            RecordError(result, error);
            broken = true;
        } catch (const std::exception& error) {
            // pqxx::sql_error (statement timeout, constraint), pqxx::in_doubt_error, a missing
            // account: this transfer failed, the connection is still usable.
            RecordError(result, error);
        }
        const Clock::time_point finished = Clock::now();
        if (measured) {
            ++result.part.sent;
            ++result.part.completed;
            result.part.latency.Record(finished - started);
            if (committed) {
                ++result.part.ok;
            } else {
                ++result.part.unexpected;
            }
        }
        if (broken) {
            lease->MarkBroken();
            break;
        }
    }
}

}  // namespace

void PrepareNaiveSchema(const NaiveDatabase& database, std::uint32_t accounts) {
    PAY_ASSERT(accounts >= kLedgerAccountsMin && accounts <= kLedgerAccountsMax);
    commons::DbSettings settings;
    settings.url = database.url;
    settings.application_name = "bench-naive-setup";
    settings.pool_size = 1;
    settings.connect_timeout = kConnectTimeout;
    settings.statement_timeout = kSetupStatementTimeout;
    commons::ConnectionPool pool(settings);
    const std::string schema = QuoteSchema(database.schema);
    commons::WithTransaction(pool, [&](pqxx::dbtransaction& transaction) {
        transaction.exec(WithSchema(kCreateSchemaSql, schema));
        transaction.exec_params(WithSchema(kSeedUniformAccountsSql, schema),
                                static_cast<std::int64_t>(accounts));
        transaction.exec_params(WithSchema(kSeedHotAccountsSql, schema), std::string(kHotAccountA),
                                std::string(kHotAccountB));
    });
}

NaiveLoadResult RunNaiveLoad(const LoadSettings& settings, const NaiveDatabase& database,
                             const NaiveWorkload& workload) {
    PAY_ASSERT(!settings.rate_per_second);
    PAY_ASSERT(settings.connections >= 1 && settings.connections <= kNaiveConnectionsMax);
    PAY_ASSERT(workload.make_transfer);

    commons::DbSettings db;
    db.url = database.url;
    db.application_name = "bench-naive";
    db.pool_size = settings.connections;
    db.connect_timeout = kConnectTimeout;
    db.acquire_timeout = kConnectTimeout;
    // The request timeout bounds every statement, so a stuck lock cannot stall the load.
    db.statement_timeout =
        std::max(std::chrono::milliseconds(1),
                 std::chrono::duration_cast<std::chrono::milliseconds>(settings.request_timeout));
    commons::ConnectionPool pool(db);

    std::promise<Timeline> timeline_promise;
    Shared shared{workload, QuoteSchema(database.schema), pool,
                  std::latch(static_cast<std::ptrdiff_t>(settings.connections)),
                  timeline_promise.get_future().share()};
    std::vector<WorkerResult> results(settings.connections);
    const SignalScope signals;
    std::vector<std::thread> threads;
    threads.reserve(settings.connections);
    for (WorkerResult& result : results) {
        threads.emplace_back([&shared, &result] {
            try {
                RunWorker(shared, result);
            } catch (...) {
                result.failure = std::current_exception();
            }
            std::lock_guard lock(shared.mutex);
            ++shared.finished;
            shared.finished_changed.notify_all();
        });
    }

    // Connections first, so opening 64 of them is neither warm-up nor measured.
    shared.connected.wait();
    const Clock::time_point start = Clock::now();
    const Timeline timeline{start + settings.warmup, start + settings.warmup + settings.duration};
    timeline_promise.set_value(timeline);

    Clock::time_point end = timeline.end;
    bool interrupted = false;
    {
        std::unique_lock lock(shared.mutex);
        while (shared.finished < threads.size()) {
            shared.finished_changed.wait_for(lock, kSignalPollInterval);
            if (!interrupted && g_signals_seen.load() > 0) {
                interrupted = true;
                end = std::min(end, Clock::now());
                shared.stop.store(true);
            }
        }
    }
    for (std::thread& thread : threads) thread.join();

    NaiveLoadResult total;
    total.load.label = workload.label;
    total.load.attributes = workload.attributes;
    total.load.settings = settings;
    total.load.settings.threads = settings.connections;
    total.load.interrupted = interrupted;
    for (WorkerResult& result : results) {
        if (result.failure) std::rethrow_exception(result.failure);
        const LoadResult& part = result.part;
        total.load.sent += part.sent;
        total.load.completed += part.completed;
        total.load.ok += part.ok;
        total.load.unexpected += part.unexpected;
        total.load.connections_opened += part.connections_opened;
        total.load.connect_failures += part.connect_failures;
        total.load.latency.Merge(part.latency);
        if (!total.first_error && result.first_error) total.first_error = result.first_error;
    }
    if (total.load.connections_opened == 0) {
        throw TargetUnreachableError("no PostgreSQL connection for the naive load: " +
                                     total.first_error.value_or("unknown error"));
    }
    total.load.measured =
        std::max(std::chrono::nanoseconds(0),
                 std::chrono::duration_cast<std::chrono::nanoseconds>(end - timeline.measure_from));
    PAY_ASSERT(total.load.sent == total.load.completed + total.load.transport_error_total());
    return total;
}

}  // namespace bench
