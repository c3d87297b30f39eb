#pragma once

// The ledger's value types (DESIGN.md, "The ledger"). Pure data: no I/O, no JSON, no SQL.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ledger::domain {

// Microseconds since the Unix epoch (UTC): what PostgreSQL's timestamptz holds.
using Micros = std::int64_t;

enum class Direction : std::uint8_t { kDebit, kCredit };
enum class NormalBalance : std::uint8_t { kDebit, kCredit };

std::string_view DirectionName(Direction direction);
std::optional<Direction> ParseDirection(std::string_view text);
std::string_view NormalBalanceName(NormalBalance side);
std::optional<NormalBalance> ParseNormalBalance(std::string_view text);

// Limits of a transaction, each with its reason.
// Entries per transaction: a transfer plus fees, taxes and FX legs fit well inside; the bound
// keeps one command's work and lock set small.
inline constexpr std::size_t kEntriesMin = 2;
inline constexpr std::size_t kEntriesMax = 64;
// Ids are chosen by clients too; bounded so they index well and print in logs.
inline constexpr std::size_t kIdBytesMax = 64;
// A pending transaction may wait at most a year for its timeout.
inline constexpr std::int64_t kTimeoutSecondsMax = 365LL * 24 * 3600;

// True for 1 to kIdBytesMax characters of [A-Za-z0-9_.:-]: safe in URLs, logs and SQL arrays.
bool IsValidId(std::string_view id);

// The number of an entry id ("ent_42" -> 42): "ent_" and 1 to 18 digits, at least 1. nullopt
// for anything else, so a malformed list cursor is refused instead of read as some number.
std::optional<std::int64_t> ParseEntryId(std::string_view id);

// Balance constraints, checked after every change and counting pending amounts against the
// account (TigerBeetle's semantics): a flagged account can never go below zero, even briefly.
struct AccountFlags {
    // pending_debits + posted_debits <= posted_credits, else exceeds_credits.
    bool debits_must_not_exceed_credits = false;
    // pending_credits + posted_credits <= posted_debits, else exceeds_debits.
    bool credits_must_not_exceed_debits = false;

    bool operator==(const AccountFlags&) const = default;
};

// The four counters of an account. Invariants (asserted everywhere they change): all are
// non-negative, and pending + posted on each side fits in int64, so every derived balance does.
struct Counters {
    std::int64_t pending_debits = 0;
    std::int64_t pending_credits = 0;
    std::int64_t posted_debits = 0;
    std::int64_t posted_credits = 0;

    bool operator==(const Counters&) const = default;
};

// Balances as the API shows them, signed by the account's normal side: for a debit-normal
// account posted = posted_debits - posted_credits. `pending` counts every pending amount;
// `available` subtracts pending outflows but not pending inflows.
struct Balances {
    std::int64_t posted = 0;
    std::int64_t pending = 0;
    std::int64_t available = 0;
};

Balances ComputeBalances(NormalBalance side, const Counters& counters);

// True when the counters satisfy the invariants above and the flags' constraints.
bool CountersValid(const Counters& counters);
bool FlagsSatisfied(const AccountFlags& flags, const Counters& counters);

// What the state machine needs of an account (its name and metadata stay in the store).
struct Account {
    std::string id;
    std::string currency;
    NormalBalance normal_balance = NormalBalance::kDebit;
    AccountFlags flags;
    bool closed = false;
    // Grows by one with every change to the account; clients use it as a precondition.
    std::int64_t lock_version = 0;
    Counters counters;
};

struct EntrySpec {
    std::string account_id;
    Direction direction = Direction::kDebit;
    std::int64_t amount = 0;
    // The currency the client expects the account to have; a mismatch is refused. Not stored.
    std::optional<std::string> currency;

    // Equal when account, direction and amount are: the expected currency is a check only.
    bool operator==(const EntrySpec& other) const {
        return account_id == other.account_id && direction == other.direction &&
               amount == other.amount;
    }
};

enum class TransactionStatus : std::uint8_t { kPending, kPosted, kVoided, kExpired };

std::string_view StatusName(TransactionStatus status);
std::optional<TransactionStatus> ParseStatus(std::string_view text);

// A stored transaction.
struct Transaction {
    std::string id;
    TransactionStatus status = TransactionStatus::kPosted;
    bool created_pending = false;  // the status asked for at creation
    std::vector<EntrySpec> entries;
    std::vector<std::string> currencies;  // per entry, the account's currency
    // Per entry, the amount posted: equal to the entries' amounts for a transaction created
    // posted, set when a pending one is posted (possibly smaller), empty otherwise.
    std::vector<std::int64_t> posted_amounts;
    std::optional<std::int64_t> timeout_seconds;
    std::optional<Micros> expires_at;
    Micros effective_at = 0;
    Micros created_at = 0;
    std::string description;
    std::string metadata_json = "{}";  // canonical JSON object text (the api normalises it)
    std::string reverses_id;           // set on a reversal: the transaction it mirrors
    std::string reversed_by_id;        // set on a reversed transaction
};

// The account ids a transaction's entries name, sorted and without duplicates.
std::vector<std::string> AccountIdsOf(const std::vector<EntrySpec>& entries);

}  // namespace ledger::domain
