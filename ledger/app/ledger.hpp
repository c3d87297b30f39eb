#pragma once

// The ledger's use cases: clock, ids and currencies around the store, and the sweeper that
// expires pending transactions whose timeout has passed.

#include <chrono>
#include <functional>
#include <memory>

#include "commons/events.hpp"
#include "commons/money.hpp"
#include "ledger/app/group_commit.hpp"
#include "ledger/app/ports.hpp"

namespace commons {
class IdGenerator;
class Logger;
class Metrics;
}  // namespace commons

namespace prometheus {
template <typename T>
class Family;
class Counter;
}  // namespace prometheus

namespace ledger::app {

using Clock = std::function<Micros()>;

// The system clock in microseconds.
Micros SystemMicros();

struct SweeperSettings {
    // How often pending transactions are checked for expiry: the lateness of an expiry.
    std::chrono::milliseconds interval{1000};
    // Transactions expired per batch; a backlog drains batch after batch.
    std::size_t batch_max = 500;
};

enum class CurrencyStatus { kCreated, kExisting, kConflict, kInvalid };

class Ledger {
  public:
    // `store`, `ids`, `logger` and `metrics` must outlive the ledger. Counts every command's
    // outcome in ledger_commands_total{command, result}. Requests are group-committed with
    // `group_commit` (nullopt: each runs in its own database transaction).
    Ledger(LedgerStore& store, commons::IdGenerator& ids, commons::Logger& logger,
           commons::Metrics& metrics, Clock clock = SystemMicros,
           std::optional<GroupCommitSettings> group_commit = GroupCommitSettings{});
    ~Ledger();  // stops the sweeper
    Ledger(const Ledger&) = delete;
    Ledger& operator=(const Ledger&) = delete;

    // ISO 4217 currencies plus the registered ones (re-read from the store on a miss, so a
    // currency registered through another replica is found).
    std::optional<commons::Currency> FindCurrency(const std::string& code);
    std::vector<commons::Currency> Currencies();
    CurrencyStatus RegisterCurrency(const commons::Currency& currency);

    // Precondition: the currency is known (FindCurrency). An empty id gets an "acct_" one.
    CreateAccountOutcome CreateAccount(NewAccount account);

    // Runs the commands at the clock's now, through group commit: independent requests are
    // coalesced with concurrent ones into one database transaction, an all-or-nothing batch
    // runs in one of its own; either way on one of the committers' connections.
    BatchResult Execute(const std::vector<domain::Command>& commands, domain::Atomicity atomicity);

    // Expires up to `limit` due pending transactions now; returns how many were expired.
    std::size_t ExpireDue(std::size_t limit);

    // Starts the background sweeper. Precondition: not started.
    void StartSweeper(SweeperSettings settings);
    void StopSweeper();

    LedgerStore& store() { return store_; }
    Micros Now() const { return clock_(); }

  private:
    void CountResults(const std::vector<domain::Command>& commands, const BatchResult& result);

    LedgerStore& store_;
    commons::IdGenerator& ids_;
    commons::Logger& logger_;
    Clock clock_;
    prometheus::Family<prometheus::Counter>& commands_total_;
    commons::CurrencyRegistry currencies_;
    commons::events_internal::Worker sweeper_;
    std::unique_ptr<GroupCommitter> committer_;  // last: stopped first
};

}  // namespace ledger::app
