#pragma once

// What the ledger's use cases need from storage (DESIGN.md: app/ defines ports, store/
// implements them in SQL). No SQL, JSON or HTTP here.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "commons/money.hpp"
#include "ledger/domain/state_machine.hpp"

namespace ledger::app {

using domain::Micros;

struct AccountRecord {
    domain::Account account;
    std::string name;
    std::string metadata_json = "{}";
    Micros created_at = 0;
};

struct NewAccount {
    std::string id;
    std::string currency;
    domain::NormalBalance normal_balance = domain::NormalBalance::kDebit;
    std::string name;
    domain::AccountFlags flags;
    std::string metadata_json = "{}";
};

enum class CreateAccountStatus { kCreated, kExisting, kExistsWithDifferentFields };

struct CreateAccountOutcome {
    CreateAccountStatus status = CreateAccountStatus::kCreated;
    AccountRecord record;                       // the stored account
    std::vector<std::string> differing_fields;  // kExistsWithDifferentFields
};

// Cursor pagination, Stripe's way: newest first; `starting_after` continues with older items,
// `ending_before` with newer ones.
struct PageQuery {
    std::size_t limit = 10;
    std::optional<std::string> starting_after;
    std::optional<std::string> ending_before;
};

template <typename T>
struct Page {
    std::vector<T> items;
    bool has_more = false;
};

struct AccountFilter {
    std::optional<std::string> currency;
    std::optional<std::string> metadata_json;  // an object the account's metadata must contain
};

struct TransactionFilter {
    std::optional<std::string> account_id;
    std::optional<domain::TransactionStatus> status;
};

struct EntryRecord {
    std::int64_t id = 0;
    domain::JournalEntry entry;
    Micros created_at = 0;
};

enum class CloseStatus { kOk, kNotFound, kHasPending, kAlreadyClosed, kNotClosed };

struct CloseOutcome {
    CloseStatus status = CloseStatus::kOk;
    std::optional<AccountRecord> record;
};

struct BatchResult {
    domain::BatchOutcome outcome;
    // The final state of every transaction a result names (created, replayed or changed).
    std::map<std::string, domain::Transaction, std::less<>> transactions;
};

struct Violation {
    std::string kind;  // "account_counters", "transaction_unbalanced", "currency_unbalanced", ...
    std::string subject;  // the account id, transaction id or currency
    std::string detail;
};

struct VerifyReport {
    bool ok = true;
    std::int64_t accounts_checked = 0;
    std::int64_t transactions_checked = 0;
    std::int64_t entries_checked = 0;
    std::vector<Violation> violations;
};

enum class RegisterCurrencyStatus { kCreated, kExisting, kConflict };

// Storage of the ledger. Every method is one database transaction, blocking, thread-safe, and
// throws commons::DatabaseUnavailableError when the database cannot do the work.
class LedgerStore {
  public:
    virtual ~LedgerStore() = default;

    virtual RegisterCurrencyStatus RegisterCurrency(const commons::Currency& currency) = 0;
    virtual std::vector<commons::Currency> CustomCurrencies() = 0;

    // Creates the account, or reports the stored one with the same id.
    virtual CreateAccountOutcome CreateAccount(const NewAccount& account) = 0;
    virtual std::optional<AccountRecord> FindAccount(const std::string& id) = 0;
    virtual Page<AccountRecord> ListAccounts(const AccountFilter& filter,
                                             const PageQuery& page) = 0;
    // The counters right after the last journal entry booked at or before `as_of`; zero
    // counters when there is none. nullopt when the account does not exist.
    virtual std::optional<domain::Counters> CountersAsOf(const std::string& account_id,
                                                         Micros as_of) = 0;
    // nullopt when the account does not exist.
    virtual std::optional<Page<EntryRecord>> ListEntries(const std::string& account_id,
                                                         const PageQuery& page) = 0;
    virtual CloseOutcome SetClosed(const std::string& account_id, bool closed) = 0;

    // Locks the accounts the commands touch (in id order), runs the state machine, writes its
    // outcome and the events in one database transaction.
    virtual BatchResult ExecuteBatch(const std::vector<domain::Command>& commands,
                                     domain::Atomicity atomicity, Micros now) = 0;
    virtual std::optional<domain::Transaction> FindTransaction(const std::string& id) = 0;
    virtual Page<domain::Transaction> ListTransactions(const TransactionFilter& filter,
                                                       const PageQuery& page) = 0;
    // Ids of pending transactions whose timeout has passed, oldest deadline first.
    virtual std::vector<std::string> DueForExpiry(Micros now, std::size_t limit) = 0;

    // Recomputes every invariant from the journal.
    virtual VerifyReport Verify() = 0;
};

}  // namespace ledger::app
