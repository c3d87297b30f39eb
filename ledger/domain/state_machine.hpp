#pragma once

// The heart of the ledger (DESIGN.md, "The ledger"): a pure function from account and
// transaction states plus a batch of commands to one result per command, the new states, and
// the journal entries to append. The store locks the accounts, runs it, and writes what it
// returns in one database transaction; a single request is a batch of one.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ledger/domain/model.hpp"

namespace ledger::domain {

// Every outcome of a command. The api maps each to HTTP in a switch without a default.
enum class ResultCode : std::uint8_t {
    kOk,                         // applied
    kReplayed,                   // the same id with the same content exists: nothing done
    kIdInvalid,                  // malformed or over-long id
    kEntriesCountInvalid,        // fewer than 2 or more than 64 entries
    kAmountInvalid,              // an amount not positive
    kAccountsMustBeDifferent,    // all entries name one account
    kTimeoutInvalid,             // timeout on a posted transaction, or out of range
    kLockVersionAccountInvalid,  // a lock_version for an account not in the entries
    kAccountNotFound,
    kAccountClosed,
    kCurrencyMismatch,  // an entry's stated currency is not its account's
    kUnbalanced,        // debits differ from credits in some currency
    kExceedsCredits,
    kExceedsDebits,
    kLockVersionMismatch,
    kOverflow,
    kExistsWithDifferentFields,  // the id exists with other content
    kTransactionNotFound,
    kNotPending,          // post/void/expire of a transaction no longer pending;
                          // a post/void after the timeout also expires it (the
                          // one refusal that changes state)
    kNotDue,              // expire before the timeout passed
    kPostAmountsInvalid,  // wrong count, negative, or above the pending amount
    kNotPosted,           // reversal of a transaction that is not posted
    kAlreadyReversed,
    kBatchFailed,  // atomic batch: another command failed
};

std::string_view ResultCodeName(ResultCode code);

// Creates a transaction, posted or pending.
struct CreateTransaction {
    std::string id;
    std::vector<EntrySpec> entries;
    bool pending = false;
    std::optional<std::int64_t> timeout_seconds;  // pending only; none = never expires
    std::optional<Micros> effective_at;           // defaults to the batch's `now`
    std::string description;
    std::string metadata_json = "{}";
    std::vector<std::pair<std::string, std::int64_t>> lock_versions;
};

// Posts a pending transaction, fully or (with `amounts`, one per entry) partially; what is
// not posted is released.
struct PostPending {
    std::string id;
    std::optional<std::vector<std::int64_t>> amounts;
};

struct VoidPending {
    std::string id;
};

// Expires a pending transaction whose timeout has passed (the sweeper's command).
struct ExpirePending {
    std::string id;
};

// Books the mirror image of a posted transaction as a new posted transaction `reversal_id`.
struct Reverse {
    std::string original_id;
    std::string reversal_id;
    std::string description;
    std::string metadata_json = "{}";
};

using Command = std::variant<CreateTransaction, PostPending, VoidPending, ExpirePending, Reverse>;

// The transaction ids a command reads: its own, its target, its reversal's.
std::vector<std::string> TransactionIdsOf(const Command& command);

struct CommandResult {
    ResultCode code = ResultCode::kOk;
    std::string transaction_id;  // the transaction the result is about (the new one for Reverse)
    std::vector<std::string> differing_fields;  // kExistsWithDifferentFields
    std::optional<TransactionStatus> status;    // kNotPending/kNotPosted: the current one
    std::string account_id;                     // account-level refusals: which account
    std::optional<std::size_t> failed_index;    // kBatchFailed: the command that failed
};

enum class JournalKind : std::uint8_t { kCreated, kPosted, kVoided, kExpired };
std::string_view JournalKindName(JournalKind kind);
// The inverse of JournalKindName; nullopt for any other text.
std::optional<JournalKind> ParseJournalKind(std::string_view text);

// One row of the append-only journal: a change to one account's counters, with the counters
// right after it.
struct JournalEntry {
    std::string transaction_id;
    std::string account_id;
    std::string currency;
    Direction direction = Direction::kDebit;
    JournalKind kind = JournalKind::kCreated;
    std::int64_t pending_delta = 0;  // change of pending_<direction>s
    std::int64_t posted_delta = 0;   // change of posted_<direction>s
    Counters after;
    Micros effective_at = 0;
};

// What happened, for events: one per applied command (a reversal has two: the new posted
// transaction and the reversed one), plus the expiry a late post or void causes.
enum class EventKind : std::uint8_t { kPosted, kPending, kVoided, kExpired, kReversed };
std::string_view EventTypeName(EventKind kind);  // "ledger.transaction.posted", ...

struct DomainEvent {
    EventKind kind;
    std::string transaction_id;
};

// The states a batch works on. `accounts` holds every account the commands name that exists
// (locked by the store); `transactions` every existing transaction TransactionIdsOf names.
// Apply() updates both in place.
struct BatchState {
    std::map<std::string, Account, std::less<>> accounts;
    std::map<std::string, Transaction, std::less<>> transactions;
};

enum class Atomicity : std::uint8_t {
    kIndependent,   // each command succeeds or fails alone
    kAllOrNothing,  // one failure fails every command and changes nothing
};

struct BatchOutcome {
    std::vector<CommandResult> results;  // one per command, in order
    // Ids of accounts and transactions whose state changed; the store writes their final
    // states from BatchState, once each however often they changed.
    std::vector<std::string> changed_accounts;
    std::vector<std::string> created_transactions;
    std::vector<std::string> updated_transactions;  // existing ones whose status/links changed
    std::vector<JournalEntry> journal;
    std::vector<DomainEvent> events;
};

// Applies `commands` in order at time `now`. Never throws for any input; asserts its own
// invariants (every change balances per currency, counters stay valid) with PAY_ASSERT.
BatchOutcome Apply(BatchState& state, const std::vector<Command>& commands, Micros now,
                   Atomicity atomicity);

// Closing refuses an account with pending amounts.
enum class CloseResult : std::uint8_t { kOk, kHasPending, kAlreadyClosed };
CloseResult Close(Account& account);
enum class ReopenResult : std::uint8_t { kOk, kNotClosed };
ReopenResult Reopen(Account& account);

}  // namespace ledger::domain
