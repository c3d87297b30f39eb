// A randomized test of the ledger's state machine: thousands of commands of every kind, in
// batches of both atomicities, with every invariant checked after every batch by code that does
// not trust the state machine. Replay a failure with LEDGER_RANDOM_SEED=<the printed seed>.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "ledger/domain/state_machine.hpp"
#include "ledger/domain/test_helpers.hpp"

namespace ledger::domain {

namespace {

__extension__ using Wide = __int128;

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr Micros kSecond = 1'000'000;
constexpr Micros kStart = 1'700'000'000'000'000;
// Enough commands to reach rare interleavings (expiry at the boundary, overflow near the
// maximum, reversals of partial posts) while the test stays within a few seconds.
constexpr int kCommandsMin = 30'000;
constexpr std::int64_t kBatchCommandsMax = 8;
// A full recomputation from the whole journal and every transaction, on top of the incremental
// checks done after every batch.
constexpr int kFullCheckEveryBatches = 100;

std::uint64_t SeedFromEnvironment() {
    if (const char* text = std::getenv("LEDGER_RANDOM_SEED"); text != nullptr && *text != '\0') {
        return std::stoull(text);
    }
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

std::string ToString(Wide value) {
    if (value == 0) return "0";
    const bool negative = value < 0;
    std::string digits;
    while (value != 0) {
        const int digit = static_cast<int>(value % 10);
        digits.push_back(static_cast<char>('0' + (negative ? -digit : digit)));
        value /= 10;
    }
    if (negative) digits.push_back('-');
    std::reverse(digits.begin(), digits.end());
    return digits;
}

struct WideCounters {
    Wide pending_debits = 0;
    Wide pending_credits = 0;
    Wide posted_debits = 0;
    Wide posted_credits = 0;

    bool operator==(const WideCounters&) const = default;

    static WideCounters From(const Counters& c) {
        return {c.pending_debits, c.pending_credits, c.posted_debits, c.posted_credits};
    }

    Wide& Pending(Direction direction) {
        return direction == Direction::kDebit ? pending_debits : pending_credits;
    }
    Wide& Posted(Direction direction) {
        return direction == Direction::kDebit ? posted_debits : posted_credits;
    }
};

std::string Describe(const WideCounters& c) {
    return "{pending_debits=" + ToString(c.pending_debits) +
           " pending_credits=" + ToString(c.pending_credits) +
           " posted_debits=" + ToString(c.posted_debits) +
           " posted_credits=" + ToString(c.posted_credits) + "}";
}

bool Fits(const WideCounters& c) {
    return c.pending_debits >= 0 && c.pending_credits >= 0 && c.posted_debits >= 0 &&
           c.posted_credits >= 0 && c.pending_debits + c.posted_debits <= kMax &&
           c.pending_credits + c.posted_credits <= kMax;
}

bool Succeeded(ResultCode code) { return code == ResultCode::kOk || code == ResultCode::kReplayed; }

Direction Opposite(Direction direction) {
    return direction == Direction::kDebit ? Direction::kCredit : Direction::kDebit;
}

// The id rule, restated here so that the test does not take the state machine's word for it.
bool IdLooksValid(const std::string& id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == ':';
        if (!ok) return false;
    }
    return true;
}

bool SameResult(const CommandResult& a, const CommandResult& b) {
    return a.code == b.code && a.transaction_id == b.transaction_id &&
           a.differing_fields == b.differing_fields && a.status == b.status &&
           a.account_id == b.account_id && a.failed_index == b.failed_index;
}

bool SameRow(const JournalEntry& a, const JournalEntry& b) {
    return a.transaction_id == b.transaction_id && a.account_id == b.account_id &&
           a.currency == b.currency && a.direction == b.direction && a.kind == b.kind &&
           a.pending_delta == b.pending_delta && a.posted_delta == b.posted_delta &&
           a.after == b.after && a.effective_at == b.effective_at;
}

std::string Name(ResultCode code) { return std::string(ResultCodeName(code)); }

// What the test expects of one command applied alone to a known state.
struct Expectation {
    std::set<ResultCode> allowed;
    std::vector<std::string> differing_fields;  // when kExistsWithDifferentFields
    std::optional<TransactionStatus> status;    // when kNotPending or kNotPosted
    std::string account_id;                     // when the refusal names one account for sure
    // A post or void after the timeout is refused, and the transaction expires instead.
    bool expires_instead = false;
};

Expectation Only(ResultCode code, std::string account_id = {}) {
    Expectation e;
    e.allowed = {code};
    e.account_id = std::move(account_id);
    return e;
}

// Projects `moves` (account, direction, pending amount, posted amount) onto the accounts and
// says which account-level refusals are possible: closed accounts and overflow come first (the
// order among them is not part of the contract), then the flags.
Expectation PredictMoves(const BatchState& state,
                         const std::vector<std::tuple<std::string, Direction, Wide, Wide>>& moves) {
    std::map<std::string, WideCounters> projected;
    Expectation e;
    bool closed_or_overflow = false;
    for (const auto& [account_id, direction, pending, posted] : moves) {
        const Account& account = state.accounts.at(account_id);
        auto [slot, inserted] =
            projected.try_emplace(account_id, WideCounters::From(account.counters));
        slot->second.Pending(direction) += pending;
        slot->second.Posted(direction) += posted;
        if (account.closed) {
            e.allowed.insert(ResultCode::kAccountClosed);
            closed_or_overflow = true;
        }
    }
    for (const auto& [account_id, counters] : projected) {
        if (!Fits(counters)) {
            e.allowed.insert(ResultCode::kOverflow);
            closed_or_overflow = true;
        }
    }
    if (closed_or_overflow) return e;
    for (const auto& [account_id, c] : projected) {
        const AccountFlags& flags = state.accounts.at(account_id).flags;
        if (flags.debits_must_not_exceed_credits &&
            c.pending_debits + c.posted_debits > c.posted_credits) {
            e.allowed.insert(ResultCode::kExceedsCredits);
        }
        if (flags.credits_must_not_exceed_debits &&
            c.pending_credits + c.posted_credits > c.posted_debits) {
            e.allowed.insert(ResultCode::kExceedsDebits);
        }
    }
    if (e.allowed.empty()) e.allowed.insert(ResultCode::kOk);
    return e;
}

// Per currency, debits equal credits; kOverflow when a side's total does not fit in int64.
ResultCode PredictBalance(const std::vector<EntrySpec>& entries,
                          const std::vector<std::string>& currencies,
                          const std::vector<std::int64_t>& amounts) {
    std::map<std::string, std::pair<Wide, Wide>> sums;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        auto& [debits, credits] = sums[currencies[i]];
        (entries[i].direction == Direction::kDebit ? debits : credits) += amounts[i];
    }
    for (const auto& [currency, totals] : sums) {
        if (totals.first > kMax || totals.second > kMax) return ResultCode::kOverflow;
    }
    for (const auto& [currency, totals] : sums) {
        if (totals.first != totals.second) return ResultCode::kUnbalanced;
    }
    return ResultCode::kOk;
}

Expectation Predict(const BatchState& state, const CreateTransaction& c, Micros /*now*/) {
    if (!IdLooksValid(c.id)) return Only(ResultCode::kIdInvalid);
    if (auto existing = state.transactions.find(c.id); existing != state.transactions.end()) {
        const Transaction& t = existing->second;
        Expectation e;
        if (c.entries.size() != t.entries.size() ||
            !std::equal(c.entries.begin(), c.entries.end(), t.entries.begin(),
                        [](const EntrySpec& a, const EntrySpec& b) {
                            return a.account_id == b.account_id && a.direction == b.direction &&
                                   a.amount == b.amount;
                        })) {
            e.differing_fields.emplace_back("entries");
        }
        if (c.pending != t.created_pending || !t.reverses_id.empty()) {
            e.differing_fields.emplace_back("status");
        }
        if (c.timeout_seconds != t.timeout_seconds)
            e.differing_fields.emplace_back("timeout_seconds");
        if (c.effective_at && *c.effective_at != t.effective_at) {
            e.differing_fields.emplace_back("effective_at");
        }
        if (c.description != t.description) e.differing_fields.emplace_back("description");
        if (c.metadata_json != t.metadata_json) e.differing_fields.emplace_back("metadata");
        e.allowed = {e.differing_fields.empty() ? ResultCode::kReplayed
                                                : ResultCode::kExistsWithDifferentFields};
        return e;
    }
    if (c.entries.size() < kEntriesMin || c.entries.size() > kEntriesMax) {
        return Only(ResultCode::kEntriesCountInvalid);
    }
    std::set<std::string> account_ids;
    for (const auto& entry : c.entries) {
        if (entry.amount <= 0) return Only(ResultCode::kAmountInvalid);
        account_ids.insert(entry.account_id);
    }
    if (account_ids.size() < 2) return Only(ResultCode::kAccountsMustBeDifferent);
    if (c.timeout_seconds &&
        (!c.pending || *c.timeout_seconds < 1 || *c.timeout_seconds > kTimeoutSecondsMax)) {
        return Only(ResultCode::kTimeoutInvalid);
    }
    for (const auto& [account_id, version] : c.lock_versions) {
        if (!account_ids.count(account_id)) {
            return Only(ResultCode::kLockVersionAccountInvalid, account_id);
        }
    }
    std::vector<std::string> currencies;
    for (const auto& entry : c.entries) {
        auto account = state.accounts.find(entry.account_id);
        if (account == state.accounts.end()) {
            return Only(ResultCode::kAccountNotFound, entry.account_id);
        }
        if (entry.currency && *entry.currency != account->second.currency) {
            return Only(ResultCode::kCurrencyMismatch, entry.account_id);
        }
        currencies.push_back(account->second.currency);
    }
    for (const auto& [account_id, version] : c.lock_versions) {
        if (state.accounts.at(account_id).lock_version != version) {
            return Only(ResultCode::kLockVersionMismatch, account_id);
        }
    }
    std::vector<std::int64_t> amounts;
    for (const auto& entry : c.entries) amounts.push_back(entry.amount);
    if (ResultCode code = PredictBalance(c.entries, currencies, amounts); code != ResultCode::kOk) {
        return Only(code);
    }
    std::vector<std::tuple<std::string, Direction, Wide, Wide>> moves;
    for (const auto& entry : c.entries) {
        moves.emplace_back(entry.account_id, entry.direction, c.pending ? entry.amount : 0,
                           c.pending ? 0 : entry.amount);
    }
    return PredictMoves(state, moves);
}

Expectation PredictRelease(const BatchState& state, const std::string& id,
                           const std::optional<std::vector<std::int64_t>>& post_amounts,
                           JournalKind kind, Micros now) {
    auto found = state.transactions.find(id);
    if (found == state.transactions.end()) return Only(ResultCode::kTransactionNotFound);
    const Transaction& t = found->second;
    if (t.status != TransactionStatus::kPending) {
        Expectation e = Only(ResultCode::kNotPending);
        e.status = t.status;
        return e;
    }
    if (kind != JournalKind::kExpired && t.expires_at && *t.expires_at <= now) {
        Expectation e = Only(ResultCode::kNotPending);
        e.status = TransactionStatus::kExpired;
        e.expires_instead = true;
        return e;
    }
    if (kind == JournalKind::kExpired && (!t.expires_at || *t.expires_at > now)) {
        return Only(ResultCode::kNotDue);
    }
    if (kind == JournalKind::kPosted && post_amounts) {
        const auto& amounts = *post_amounts;
        if (amounts.size() != t.entries.size()) return Only(ResultCode::kPostAmountsInvalid);
        bool any = false;
        for (std::size_t i = 0; i < amounts.size(); ++i) {
            if (amounts[i] < 0 || amounts[i] > t.entries[i].amount) {
                return Only(ResultCode::kPostAmountsInvalid);
            }
            any = any || amounts[i] > 0;
        }
        if (!any) return Only(ResultCode::kPostAmountsInvalid);
        if (ResultCode code = PredictBalance(t.entries, t.currencies, amounts);
            code != ResultCode::kOk) {
            return Only(code);
        }
    }
    // Releasing only lowers totals: nothing account-level can refuse it.
    return Only(ResultCode::kOk);
}

Expectation Predict(const BatchState& state, const PostPending& c, Micros now) {
    return PredictRelease(state, c.id, c.amounts, JournalKind::kPosted, now);
}
Expectation Predict(const BatchState& state, const VoidPending& c, Micros now) {
    return PredictRelease(state, c.id, std::nullopt, JournalKind::kVoided, now);
}
Expectation Predict(const BatchState& state, const ExpirePending& c, Micros now) {
    return PredictRelease(state, c.id, std::nullopt, JournalKind::kExpired, now);
}

Expectation Predict(const BatchState& state, const Reverse& c, Micros /*now*/) {
    if (!IdLooksValid(c.reversal_id)) return Only(ResultCode::kIdInvalid);
    if (auto existing = state.transactions.find(c.reversal_id);
        existing != state.transactions.end()) {
        const Transaction& t = existing->second;
        Expectation e;
        if (t.reverses_id != c.original_id) e.differing_fields.emplace_back("reverses");
        if (t.description != c.description) e.differing_fields.emplace_back("description");
        if (t.metadata_json != c.metadata_json) e.differing_fields.emplace_back("metadata");
        e.allowed = {e.differing_fields.empty() ? ResultCode::kReplayed
                                                : ResultCode::kExistsWithDifferentFields};
        return e;
    }
    auto original = state.transactions.find(c.original_id);
    if (original == state.transactions.end()) return Only(ResultCode::kTransactionNotFound);
    const Transaction& t = original->second;
    if (t.status != TransactionStatus::kPosted) {
        Expectation e = Only(ResultCode::kNotPosted);
        e.status = t.status;
        return e;
    }
    if (!t.reversed_by_id.empty()) return Only(ResultCode::kAlreadyReversed);
    std::vector<std::tuple<std::string, Direction, Wide, Wide>> moves;
    for (std::size_t i = 0; i < t.entries.size(); ++i) {
        if (t.posted_amounts[i] == 0) continue;
        moves.emplace_back(t.entries[i].account_id, Opposite(t.entries[i].direction), 0,
                           t.posted_amounts[i]);
    }
    return PredictMoves(state, moves);
}

// Per account, what a transaction holds in the counters given its status: a pending one its
// amounts as pending, a posted one its posted amounts, a voided or expired one nothing.
void AddContribution(std::map<std::string, WideCounters>& sums, const Transaction& t, int sign) {
    for (std::size_t i = 0; i < t.entries.size(); ++i) {
        const EntrySpec& entry = t.entries[i];
        WideCounters& counters = sums[entry.account_id];
        if (t.status == TransactionStatus::kPending) {
            counters.Pending(entry.direction) += sign * static_cast<Wide>(entry.amount);
        } else if (t.status == TransactionStatus::kPosted && i < t.posted_amounts.size()) {
            counters.Posted(entry.direction) += sign * static_cast<Wide>(t.posted_amounts[i]);
        }
    }
}

class Rng {
  public:
    explicit Rng(std::uint64_t seed) : engine_(seed) {}

    std::int64_t Uniform(std::int64_t low, std::int64_t high) {
        return std::uniform_int_distribution<std::int64_t>(low, high)(engine_);
    }
    bool Chance(int percent) { return Uniform(0, 99) < percent; }
    template <typename T>
    const T& Pick(const std::vector<T>& values) {
        return values[static_cast<std::size_t>(
            Uniform(0, static_cast<std::int64_t>(values.size()) - 1))];
    }
    std::mt19937_64& Engine() { return engine_; }

  private:
    std::mt19937_64 engine_;
};

class Simulation {
  public:
    explicit Simulation(std::uint64_t seed) : rng_(seed) { SetUpAccounts(); }

    void Run() {
        int commands_applied = 0;
        int batch_number = 0;
        while (commands_applied < kCommandsMin) {
            ++batch_number;
            SCOPED_TRACE("batch " + std::to_string(batch_number) +
                         " at now=" + std::to_string(now_));
            MaybeCloseOrReopen();
            now_ += rng_.Chance(3) ? 60 * kSecond : rng_.Uniform(0, 4 * kSecond);
            const auto size = static_cast<std::size_t>(rng_.Uniform(1, kBatchCommandsMax));
            std::vector<Command> batch;
            batch_creates_.clear();
            while (batch.size() < size) batch.push_back(NextCommand(batch));
            const Atomicity atomicity =
                rng_.Chance(40) ? Atomicity::kAllOrNothing : Atomicity::kIndependent;
            RunBatch(batch, atomicity);
            commands_applied += static_cast<int>(batch.size());
            if (batch_number % kFullCheckEveryBatches == 0) FullCheck();
            if (::testing::Test::HasFailure()) return;
        }
        FullCheck();
        std::cout << "[ledger randomized] " << commands_applied << " commands in " << batch_number
                  << " batches; " << ledger_.transactions.size() << " transactions, "
                  << journal_.size() << " journal rows\n[ledger randomized] results:";
        for (const auto& [code, count] : code_counts_) {
            std::cout << " " << Name(code) << "=" << count;
        }
        std::cout << "\n[ledger randomized] applied:";
        for (const auto& [what, count] : applied_counts_) std::cout << " " << what << "=" << count;
        std::cout << std::endl;
        // The generator must reach every outcome, or the run proves less than it claims.
        for (int code = 0; code <= static_cast<int>(ResultCode::kBatchFailed); ++code) {
            EXPECT_GT(code_counts_[static_cast<ResultCode>(code)], 0)
                << "no command produced " << Name(static_cast<ResultCode>(code));
        }
        EXPECT_GT(code_counts_[ResultCode::kOk], commands_applied / 10);
        for (const char* what :
             {"create_posted", "create_pending", "create_64_entries", "create_fx", "post_full",
              "post_partial", "void", "expire", "expire_instead_of_post_or_void", "reverse",
              "reverse_partially_posted"}) {
            EXPECT_GT(applied_counts_[what], 0) << "nothing applied of kind " << what;
        }
    }

  private:
    // ----- Accounts -------------------------------------------------------------------------

    void SetUpAccounts() {
        const std::vector<std::pair<std::string, int>> currencies = {
            {"USD", 8}, {"EUR", 7}, {"JPY", 5}};
        int n = 0;
        for (const auto& [currency, count] : currencies) {
            currencies_.push_back(currency);
            for (int i = 0; i < count; ++i, ++n) {
                Account account;
                account.id = "acct_" + std::to_string(n);
                account.currency = currency;
                account.normal_balance =
                    rng_.Chance(50) ? NormalBalance::kDebit : NormalBalance::kCredit;
                // The last two of each currency take the huge amounts and have no flags, so that
                // they reach the int64 limit without exhausting the ordinary accounts.
                const bool whale = i >= count - 2;
                if (!whale) {
                    // The first two of each currency carry one flag each, so that every run
                    // exercises both; the others get random flags, rarely, so that most
                    // movements between ordinary accounts can succeed.
                    const int roll = i == 0   ? 0
                                     : i == 1 ? 10
                                              : static_cast<int>(rng_.Uniform(0, 99));
                    account.flags.debits_must_not_exceed_credits = roll < 10 || roll >= 97;
                    account.flags.credits_must_not_exceed_debits =
                        (roll >= 10 && roll < 15) || roll >= 97;
                    ordinary_[currency].push_back(account.id);
                } else {
                    whales_[currency].push_back(account.id);
                }
                currency_of_[account.id] = currency;
                account_ids_.push_back(account.id);
                ledger_.accounts.emplace(account.id, account);
            }
        }
    }

    // Now and then closes an account or reopens one, keeping at most two closed at a time.
    void MaybeCloseOrReopen() {
        if (!rng_.Chance(5)) return;
        std::vector<std::string> closed_ids;
        for (const auto& [id, a] : ledger_.accounts) {
            if (a.closed) closed_ids.push_back(id);
        }
        const int closed = static_cast<int>(closed_ids.size());
        Account& account =
            ledger_.accounts.at(!closed_ids.empty() && rng_.Chance(60) ? rng_.Pick(closed_ids)
                                                                       : rng_.Pick(account_ids_));
        const Account before = account;
        if (account.closed) {
            EXPECT_EQ(Reopen(account), ReopenResult::kOk);
            EXPECT_FALSE(account.closed);
            EXPECT_EQ(account.lock_version, before.lock_version + 1);
        } else if (closed >= 2) {
            EXPECT_EQ(Reopen(account), ReopenResult::kNotClosed);
            EXPECT_TRUE(SameAccount(before, account));
        } else {
            const bool has_pending =
                account.counters.pending_debits != 0 || account.counters.pending_credits != 0;
            const CloseResult result = Close(account);
            if (has_pending) {
                EXPECT_EQ(result, CloseResult::kHasPending);
                EXPECT_TRUE(SameAccount(before, account));
            } else {
                EXPECT_EQ(result, CloseResult::kOk);
                EXPECT_TRUE(account.closed);
                EXPECT_EQ(account.lock_version, before.lock_version + 1);
                EXPECT_EQ(Close(account), CloseResult::kAlreadyClosed);
            }
        }
        EXPECT_EQ(account.counters, before.counters);
    }

    // ----- Generating commands --------------------------------------------------------------

    std::string NewId(const char* prefix) { return prefix + std::to_string(next_id_++); }

    std::int64_t Amount(bool& huge) {
        const int roll = static_cast<int>(rng_.Uniform(0, 999));
        huge = roll < 30;
        if (roll < 15) return kMax - rng_.Uniform(0, 2);
        if (roll < 30) return rng_.Uniform(kMax / 4, kMax / 2);
        if (roll < 40) return rng_.Uniform(kMax >> 24, kMax >> 12);
        if (roll < 100) return 1;
        return rng_.Uniform(1, 100'000);
    }

    // Two distinct accounts of `currency`: the whales for huge amounts, else mostly ordinary.
    std::pair<std::string, std::string> TwoAccounts(const std::string& currency, bool huge) {
        std::vector<std::string> pool = huge ? whales_[currency] : ordinary_[currency];
        if (!huge && rng_.Chance(8)) {
            pool.insert(pool.end(), whales_[currency].begin(), whales_[currency].end());
        }
        std::shuffle(pool.begin(), pool.end(), rng_.Engine());
        return {pool[0], pool[1]};
    }

    CreateTransaction WellFormedCreate(bool pending) {
        CreateTransaction c;
        c.id = NewId("t");
        c.pending = pending;
        if (pending && rng_.Chance(65)) c.timeout_seconds = rng_.Uniform(1, 30);
        const int roll = static_cast<int>(rng_.Uniform(0, 99));
        const int legs = roll < 60   ? 1
                         : roll < 85 ? 2
                         : roll < 95 ? 3
                                     : static_cast<int>(rng_.Uniform(4, 8));
        const bool fx = rng_.Chance(25);
        std::string currency = rng_.Pick(currencies_);
        std::vector<EntrySpec> entries;
        std::vector<std::pair<std::size_t, std::size_t>> leg_pairs;
        for (int leg = 0; leg < legs; ++leg) {
            if (fx) currency = rng_.Pick(currencies_);
            bool huge = false;
            const std::int64_t amount = Amount(huge);
            auto [from, to] = TwoAccounts(currency, huge);
            leg_pairs.emplace_back(entries.size(), entries.size() + 1);
            entries.push_back({to, Direction::kDebit, amount, std::nullopt});
            entries.push_back({from, Direction::kCredit, amount, std::nullopt});
        }
        if (legs == 1 && entries[0].amount >= 3 && entries[0].amount < 1'000'000 &&
            rng_.Chance(20)) {
            // One debit against several credits: no longer pairs of equal legs.
            const std::int64_t amount = entries[0].amount;
            const std::int64_t first = rng_.Uniform(1, amount - 2);
            const std::int64_t second = rng_.Uniform(1, amount - first - 1);
            const auto& pool = ordinary_[currency];
            entries.pop_back();
            entries.push_back({rng_.Pick(pool), Direction::kCredit, first, std::nullopt});
            entries.push_back({rng_.Pick(pool), Direction::kCredit, second, std::nullopt});
            entries.push_back(
                {rng_.Pick(pool), Direction::kCredit, amount - first - second, std::nullopt});
            leg_pairs.clear();
        }
        // Shuffle the entries, keeping track of where each leg's two entries went.
        std::vector<std::size_t> order(entries.size());
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), rng_.Engine());
        std::vector<std::size_t> position(entries.size());
        for (std::size_t i = 0; i < order.size(); ++i) {
            c.entries.push_back(entries[order[i]]);
            position[order[i]] = i;
        }
        for (auto& [debit, credit] : leg_pairs) {
            debit = position[debit];
            credit = position[credit];
        }
        legs_[c.id] = leg_pairs;
        if (rng_.Chance(20)) {
            for (auto& entry : c.entries) entry.currency = currency_of_[entry.account_id];
        }
        if (rng_.Chance(10)) c.effective_at = now_ - rng_.Uniform(0, 3600 * kSecond);
        if (rng_.Chance(30)) c.description = "d" + std::to_string(rng_.Uniform(0, 5));
        if (rng_.Chance(10))
            c.metadata_json = R"({"k":)" + std::to_string(rng_.Uniform(0, 3)) + "}";
        if (rng_.Chance(8)) {
            // The version read before the batch: stale if an earlier command in it moved the
            // account.
            const std::string& account_id = rng_.Pick(c.entries).account_id;
            c.lock_versions.emplace_back(account_id, ledger_.accounts.at(account_id).lock_version);
        }
        return c;
    }

    CreateTransaction DefectiveCreate() {
        CreateTransaction c = WellFormedCreate(rng_.Chance(50));
        auto any_entry = [&]() -> EntrySpec& {
            return c.entries[static_cast<std::size_t>(
                rng_.Uniform(0, static_cast<std::int64_t>(c.entries.size()) - 1))];
        };
        switch (rng_.Uniform(0, 14)) {
            case 0: {
                const std::vector<std::string> bad = {"",     "bad id", "t/1", std::string(65, 'x'),
                                                      "t\"q", "t%20"};
                c.id = rng_.Pick(bad);
                break;
            }
            case 1:
                c.entries.resize(1);
                break;
            case 2: {
                const std::string currency = rng_.Pick(currencies_);
                c.entries.clear();
                for (int i = 0; i < 32; ++i) {
                    auto [from, to] = TwoAccounts(currency, false);
                    c.entries.push_back({to, Direction::kDebit, 1, std::nullopt});
                    c.entries.push_back({from, Direction::kCredit, 1, std::nullopt});
                }
                // Exactly 64 entries are fine; one more is not.
                legs_[c.id].clear();
                for (std::size_t i = 0; i < c.entries.size(); i += 2)
                    legs_[c.id].emplace_back(i, i + 1);
                if (rng_.Chance(50)) c.entries.push_back(c.entries[0]);
                c.lock_versions.clear();
                break;
            }
            case 3:
                any_entry().amount = 0;
                break;
            case 4: {
                EntrySpec& entry = any_entry();
                entry.amount = entry.amount == 1 && rng_.Chance(20)
                                   ? std::numeric_limits<std::int64_t>::min()
                                   : -entry.amount;
                break;
            }
            case 5: {
                const std::string account_id = c.entries[0].account_id;
                c.entries = {{account_id, Direction::kDebit, 5, std::nullopt},
                             {account_id, Direction::kCredit, 5, std::nullopt}};
                c.lock_versions.clear();
                break;
            }
            case 6:
                c.pending = false;
                c.timeout_seconds = rng_.Uniform(1, 30);
                break;
            case 7: {
                c.pending = true;
                const std::vector<std::int64_t> bad = {0, -5, kTimeoutSecondsMax + 1, kMax};
                c.timeout_seconds = rng_.Pick(bad);
                break;
            }
            case 8: {
                std::set<std::string> named;
                for (const auto& entry : c.entries) named.insert(entry.account_id);
                for (const auto& id : account_ids_) {
                    if (!named.count(id)) {
                        c.lock_versions = {{id, 0}};
                        break;
                    }
                }
                break;
            }
            case 9:
                any_entry().account_id = "ghost_" + std::to_string(rng_.Uniform(0, 3));
                break;
            case 10: {
                EntrySpec& entry = any_entry();
                const std::string& actual = currency_of_[entry.account_id];
                entry.currency = actual == "USD" ? "EUR" : "USD";
                break;
            }
            case 11: {
                EntrySpec& entry = any_entry();
                entry.amount = entry.amount < kMax ? entry.amount + 1 : entry.amount - 1;
                break;
            }
            case 12: {
                // Balanced in total only: 100 USD against 100 EUR.
                c.entries = {{rng_.Pick(ordinary_["USD"]), Direction::kDebit, 100, std::nullopt},
                             {rng_.Pick(ordinary_["EUR"]), Direction::kCredit, 100, std::nullopt}};
                c.lock_versions.clear();
                break;
            }
            case 13: {
                const std::string& account_id = c.entries[0].account_id;
                c.lock_versions = {{account_id, ledger_.accounts.at(account_id).lock_version +
                                                    rng_.Uniform(1, 2)}};
                break;
            }
            default:
                // Reuse a well-formed command's id that the batch already used for something else.
                if (!batch_creates_.empty()) c.id = batch_creates_.begin()->first;
                break;
        }
        return c;
    }

    // Entries of a transaction that exists or that this batch creates.
    const std::vector<EntrySpec>* EntriesOf(const std::string& id) {
        if (auto t = ledger_.transactions.find(id); t != ledger_.transactions.end()) {
            return &t->second.entries;
        }
        if (auto c = batch_creates_.find(id); c != batch_creates_.end()) return &c->second.entries;
        return nullptr;
    }

    std::string TargetPending() {
        const int roll = static_cast<int>(rng_.Uniform(0, 99));
        std::vector<std::string> created_pending;
        for (const auto& [id, c] : batch_creates_) {
            if (c.pending) created_pending.push_back(id);
        }
        if (roll < 15 && !created_pending.empty()) return rng_.Pick(created_pending);
        if (roll < 88 && !pending_ids_.empty()) return rng_.Pick(pending_ids_);
        if (roll < 98 && !transaction_ids_.empty()) return rng_.Pick(transaction_ids_);
        return "nope_" + std::to_string(rng_.Uniform(0, 9));
    }

    PostPending PostCommand() {
        PostPending c{TargetPending(), std::nullopt};
        const std::vector<EntrySpec>* entries = EntriesOf(c.id);
        const int roll = static_cast<int>(rng_.Uniform(0, 99));
        if (entries == nullptr || roll < 45) return c;
        std::vector<std::int64_t> amounts(entries->size(), 0);
        if (roll < 85) {
            // Post part of each leg, the same on both of its entries so that it balances.
            auto legs = legs_.find(c.id);
            if (legs == legs_.end() || legs->second.empty()) return c;
            for (const auto& [debit, credit] : legs->second) {
                if (debit >= entries->size() || credit >= entries->size() ||
                    (*entries)[debit].amount != (*entries)[credit].amount) {
                    return c;
                }
                const std::int64_t amount = (*entries)[debit].amount;
                const std::int64_t part = rng_.Chance(30) ? amount : rng_.Uniform(0, amount);
                amounts[debit] = part;
                amounts[credit] = part;
            }
            if (std::all_of(amounts.begin(), amounts.end(),
                            [](std::int64_t a) { return a == 0; })) {
                const auto& [debit, credit] = legs->second.front();
                amounts[debit] = amounts[credit] = (*entries)[debit].amount;
            }
            c.amounts = amounts;
            return c;
        }
        for (std::size_t i = 0; i < amounts.size(); ++i) amounts[i] = (*entries)[i].amount;
        const std::size_t k = static_cast<std::size_t>(
            rng_.Uniform(0, static_cast<std::int64_t>(amounts.size()) - 1));
        switch (rng_.Uniform(0, 4)) {
            case 0:
                if (rng_.Chance(50)) {
                    amounts.push_back(0);
                } else {
                    amounts.pop_back();
                }
                break;
            case 1:
                amounts[k] = amounts[k] < kMax ? amounts[k] + 1 : -1;
                break;
            case 2:
                amounts[k] = -amounts[k];
                break;
            case 3:
                std::fill(amounts.begin(), amounts.end(), 0);
                break;
            default:
                amounts[k] -= 1;
                break;  // unbalanced unless another entry makes up for it
        }
        c.amounts = amounts;
        return c;
    }

    std::string TargetExpirable() {
        const int roll = static_cast<int>(rng_.Uniform(0, 99));
        if (roll < 75 && !expirable_ids_.empty()) return rng_.Pick(expirable_ids_);
        return TargetPending();
    }

    Reverse ReverseCommand() {
        Reverse c;
        const int roll = static_cast<int>(rng_.Uniform(0, 99));
        if (roll < 75 && !posted_ids_.empty()) {
            c.original_id = rng_.Pick(posted_ids_);
        } else if (roll < 85 && !batch_creates_.empty()) {
            c.original_id =
                std::next(batch_creates_.begin(),
                          rng_.Uniform(0, static_cast<std::int64_t>(batch_creates_.size()) - 1))
                    ->first;
        } else {
            c.original_id = TargetPending();
        }
        c.reversal_id = NewId("r");
        if (rng_.Chance(8) && !transaction_ids_.empty())
            c.reversal_id = rng_.Pick(transaction_ids_);
        if (rng_.Chance(2)) c.reversal_id = "bad reversal";
        if (rng_.Chance(30)) c.description = "refund " + std::to_string(rng_.Uniform(0, 2));
        if (rng_.Chance(10)) c.metadata_json = R"({"r":1})";
        return c;
    }

    Command Replay() {
        if (succeeded_.empty()) return WellFormedCreate(false);
        return rng_.Pick(succeeded_);
    }

    Command Conflict() {
        if (succeeded_.empty()) return WellFormedCreate(false);
        Command command = rng_.Pick(succeeded_);
        if (auto* create = std::get_if<CreateTransaction>(&command)) {
            switch (rng_.Uniform(0, 3)) {
                case 0:
                    create->description += "x";
                    break;
                case 1:
                    create->entries[0].amount = create->entries[0].amount == 1 ? 2 : 1;
                    break;
                case 2:
                    create->pending = !create->pending;
                    create->timeout_seconds.reset();
                    break;
                default:
                    create->metadata_json = R"({"changed":true})";
                    break;
            }
        } else if (auto* reverse = std::get_if<Reverse>(&command)) {
            reverse->description += "x";
        }
        return command;
    }

    Command NextCommand(const std::vector<Command>& batch) {
        const int roll = static_cast<int>(rng_.Uniform(0, 99));
        Command command;
        if (roll < 30) {
            command = WellFormedCreate(false);
        } else if (roll < 46) {
            command = WellFormedCreate(true);
        } else if (roll < 58) {
            command = PostCommand();
        } else if (roll < 63) {
            command = VoidPending{TargetPending()};
        } else if (roll < 69) {
            command = ExpirePending{TargetExpirable()};
        } else if (roll < 76) {
            command = ReverseCommand();
        } else if (roll < 82) {
            command = Replay();
        } else if (roll < 85) {
            command = Conflict();
        } else if (roll < 89 && !batch.empty()) {
            // The same id twice in one batch: identical (a replay) or not (a conflict).
            command = rng_.Pick(batch);
            if (auto* create = std::get_if<CreateTransaction>(&command);
                create && rng_.Chance(50)) {
                create->description += "y";
            }
        } else if (roll < 97) {
            command = DefectiveCreate();
        } else {
            const std::string unknown = "ghost_txn_" + std::to_string(rng_.Uniform(0, 5));
            switch (rng_.Uniform(0, 3)) {
                case 0:
                    command = PostPending{unknown, std::nullopt};
                    break;
                case 1:
                    command = VoidPending{unknown};
                    break;
                case 2:
                    command = ExpirePending{unknown};
                    break;
                default:
                    command = Reverse{unknown, NewId("r"), "", "{}"};
                    break;
            }
        }
        if (auto* create = std::get_if<CreateTransaction>(&command)) {
            batch_creates_.try_emplace(create->id, *create);
        }
        return command;
    }

    // ----- Applying and checking ------------------------------------------------------------

    // The part of the ledger a batch reads, as the store would lock and load it.
    BatchState Slice(const std::vector<Command>& batch) const {
        BatchState slice;
        auto add_account = [&](const std::string& id) {
            if (auto it = ledger_.accounts.find(id); it != ledger_.accounts.end()) {
                slice.accounts.insert(*it);
            }
        };
        for (const auto& command : batch) {
            for (const auto& id : TransactionIdsOf(command)) {
                if (auto it = ledger_.transactions.find(id); it != ledger_.transactions.end()) {
                    slice.transactions.insert(*it);
                    for (const auto& entry : it->second.entries) add_account(entry.account_id);
                }
            }
            if (const auto* create = std::get_if<CreateTransaction>(&command)) {
                for (const auto& entry : create->entries) add_account(entry.account_id);
            }
        }
        return slice;
    }

    // Applies one command alone to `state` and checks it against the prediction and against
    // what a single command may change.
    BatchOutcome RunSingle(BatchState& state, const Command& command) {
        const BatchState before = state;
        const Expectation expected =
            std::visit([&](const auto& c) { return Predict(before, c, now_); }, command);
        BatchOutcome outcome = Apply(state, {command}, now_, Atomicity::kIndependent);
        EXPECT_EQ(outcome.results.size(), 1u);
        if (outcome.results.size() != 1) return outcome;
        const CommandResult& result = outcome.results[0];
        std::string allowed;
        for (ResultCode code : expected.allowed) allowed += Name(code) + " ";
        EXPECT_TRUE(expected.allowed.count(result.code))
            << "got " << Name(result.code) << " (account '" << result.account_id
            << "'), expected one of: " << allowed << "for command on "
            << TransactionIdsOf(command).back();
        EXPECT_EQ(result.transaction_id, TransactionIdsOf(command).back());
        EXPECT_EQ(result.failed_index, std::nullopt);
        if (result.code == ResultCode::kExistsWithDifferentFields) {
            EXPECT_EQ(result.differing_fields, expected.differing_fields);
        } else {
            EXPECT_TRUE(result.differing_fields.empty());
        }
        if (result.code == ResultCode::kNotPending || result.code == ResultCode::kNotPosted) {
            EXPECT_EQ(result.status, expected.status);
        }
        if (!expected.account_id.empty() && expected.allowed.count(result.code)) {
            EXPECT_EQ(result.account_id, expected.account_id);
        }
        CheckNamedAccount(before, command, result);

        if (expected.expires_instead && result.code == ResultCode::kNotPending) {
            // Refused, but the timeout had passed: exactly what the sweeper's expire would do.
            CheckApplied(before, state, ExpirePending{TransactionIdsOf(command).back()}, outcome);
            return outcome;
        }
        if (result.code != ResultCode::kOk) {
            EXPECT_TRUE(outcome.journal.empty() && outcome.events.empty() &&
                        outcome.changed_accounts.empty() && outcome.created_transactions.empty() &&
                        outcome.updated_transactions.empty())
                << Name(result.code) << " returned something to write";
            EXPECT_TRUE(SameState(before, state)) << Name(result.code) << " changed the state";
            return outcome;
        }
        CheckApplied(before, state, command, outcome);
        return outcome;
    }

    // An account-level refusal names an account that explains it.
    void CheckNamedAccount(const BatchState& before, const Command& command,
                           const CommandResult& result) {
        if (result.code != ResultCode::kAccountClosed &&
            result.code != ResultCode::kExceedsCredits &&
            result.code != ResultCode::kExceedsDebits && result.code != ResultCode::kOverflow) {
            return;
        }
        if (result.code == ResultCode::kOverflow && result.account_id.empty()) {
            return;  // the transaction's own total per currency overflowed (checked by Predict)
        }
        auto account = before.accounts.find(result.account_id);
        ASSERT_NE(account, before.accounts.end()) << "refusal names '" << result.account_id << "'";
        const Account& a = account->second;
        if (result.code == ResultCode::kAccountClosed) {
            EXPECT_TRUE(a.closed);
        }
        if (result.code == ResultCode::kExceedsCredits) {
            EXPECT_TRUE(a.flags.debits_must_not_exceed_credits);
        }
        if (result.code == ResultCode::kExceedsDebits) {
            EXPECT_TRUE(a.flags.credits_must_not_exceed_debits);
        }
        if (result.code == ResultCode::kOverflow) {
            // Creates and reversals only add, so the named account's projection must not fit.
            WideCounters projected = WideCounters::From(a.counters);
            if (const auto* create = std::get_if<CreateTransaction>(&command)) {
                for (const auto& entry : create->entries) {
                    if (entry.account_id != a.id) continue;
                    (create->pending ? projected.Pending(entry.direction)
                                     : projected.Posted(entry.direction)) += entry.amount;
                }
            } else if (const auto* reverse = std::get_if<Reverse>(&command)) {
                const Transaction& t = before.transactions.at(reverse->original_id);
                for (std::size_t i = 0; i < t.entries.size(); ++i) {
                    if (t.entries[i].account_id != a.id) continue;
                    projected.Posted(Opposite(t.entries[i].direction)) += t.posted_amounts[i];
                }
            }
            EXPECT_FALSE(Fits(projected)) << a.id << " " << Describe(projected);
        }
    }

    // What one applied command must have done, derived from the command and the state before.
    void CheckApplied(const BatchState& before, const BatchState& after, const Command& command,
                      const BatchOutcome& outcome) {
        std::set<std::string> touched;
        for (const auto& row : outcome.journal) touched.insert(row.account_id);
        // One lock_version step per command for each account it moved, none for the others.
        for (const auto& [id, account] : after.accounts) {
            const Account& old = before.accounts.at(id);
            EXPECT_EQ(account.lock_version, old.lock_version + (touched.count(id) ? 1 : 0)) << id;
            if (!touched.count(id)) {
                EXPECT_EQ(account.counters, old.counters) << id;
            }
        }
        EXPECT_EQ(
            std::set<std::string>(outcome.changed_accounts.begin(), outcome.changed_accounts.end()),
            touched);
        EXPECT_EQ(outcome.changed_accounts.size(), touched.size())
            << "changed_accounts repeats an id";

        std::vector<std::pair<EventKind, std::string>> events;
        for (const auto& event : outcome.events)
            events.emplace_back(event.kind, event.transaction_id);
        // Rows expected: (account, direction, kind, pending_delta, posted_delta) per entry.
        std::vector<std::tuple<std::string, Direction, JournalKind, std::int64_t, std::int64_t>>
            rows;
        std::string transaction_id;
        if (const auto* c = std::get_if<CreateTransaction>(&command)) {
            transaction_id = c->id;
            const Transaction& t = after.transactions.at(c->id);
            EXPECT_EQ(t.status,
                      c->pending ? TransactionStatus::kPending : TransactionStatus::kPosted);
            EXPECT_EQ(t.created_pending, c->pending);
            EXPECT_EQ(t.entries, c->entries);
            EXPECT_EQ(t.timeout_seconds, c->timeout_seconds);
            if (c->timeout_seconds) {
                EXPECT_EQ(t.expires_at, now_ + *c->timeout_seconds * kSecond);
            } else {
                EXPECT_EQ(t.expires_at, std::nullopt);
            }
            EXPECT_EQ(t.effective_at, c->effective_at.value_or(now_));
            EXPECT_EQ(t.created_at, now_);
            EXPECT_EQ(t.description, c->description);
            EXPECT_EQ(t.metadata_json, c->metadata_json);
            EXPECT_TRUE(t.reverses_id.empty() && t.reversed_by_id.empty());
            for (const auto& entry : c->entries) {
                rows.emplace_back(entry.account_id, entry.direction, JournalKind::kCreated,
                                  c->pending ? entry.amount : 0, c->pending ? 0 : entry.amount);
            }
            EXPECT_EQ(events, (std::vector<std::pair<EventKind, std::string>>{
                                  {c->pending ? EventKind::kPending : EventKind::kPosted, c->id}}));
            EXPECT_EQ(outcome.created_transactions, std::vector<std::string>{c->id});
            EXPECT_TRUE(outcome.updated_transactions.empty());
        } else if (const auto* r = std::get_if<Reverse>(&command)) {
            transaction_id = r->reversal_id;
            const Transaction& original = after.transactions.at(r->original_id);
            const Transaction& reversal = after.transactions.at(r->reversal_id);
            EXPECT_EQ(original.reversed_by_id, r->reversal_id);
            EXPECT_EQ(reversal.reverses_id, r->original_id);
            EXPECT_EQ(reversal.status, TransactionStatus::kPosted);
            EXPECT_FALSE(reversal.created_pending);
            EXPECT_EQ(reversal.description, r->description);
            EXPECT_EQ(reversal.metadata_json, r->metadata_json);
            EXPECT_EQ(reversal.effective_at, now_);
            std::vector<EntrySpec> mirror;
            for (std::size_t i = 0; i < original.entries.size(); ++i) {
                if (original.posted_amounts[i] == 0) continue;
                mirror.push_back({original.entries[i].account_id,
                                  Opposite(original.entries[i].direction),
                                  original.posted_amounts[i], std::nullopt});
                rows.emplace_back(original.entries[i].account_id,
                                  Opposite(original.entries[i].direction), JournalKind::kCreated, 0,
                                  original.posted_amounts[i]);
            }
            EXPECT_EQ(reversal.entries, mirror);
            EXPECT_EQ(events, (std::vector<std::pair<EventKind, std::string>>{
                                  {EventKind::kPosted, r->reversal_id},
                                  {EventKind::kReversed, r->original_id}}));
            EXPECT_EQ(outcome.created_transactions, std::vector<std::string>{r->reversal_id});
            EXPECT_EQ(outcome.updated_transactions, std::vector<std::string>{r->original_id});
        } else {
            JournalKind kind = JournalKind::kPosted;
            EventKind event = EventKind::kPosted;
            TransactionStatus status = TransactionStatus::kPosted;
            std::optional<std::vector<std::int64_t>> amounts;
            if (const auto* p = std::get_if<PostPending>(&command)) {
                transaction_id = p->id;
                amounts = p->amounts;
            } else if (const auto* v = std::get_if<VoidPending>(&command)) {
                transaction_id = v->id;
                kind = JournalKind::kVoided;
                event = EventKind::kVoided;
                status = TransactionStatus::kVoided;
            } else {
                transaction_id = std::get<ExpirePending>(command).id;
                kind = JournalKind::kExpired;
                event = EventKind::kExpired;
                status = TransactionStatus::kExpired;
            }
            const Transaction& t = after.transactions.at(transaction_id);
            EXPECT_EQ(t.status, status);
            if (kind == JournalKind::kExpired) {
                EXPECT_TRUE(t.expires_at && *t.expires_at <= now_);
            }
            std::vector<std::int64_t> posted(t.entries.size(), 0);
            if (kind == JournalKind::kPosted) {
                for (std::size_t i = 0; i < t.entries.size(); ++i) posted[i] = t.entries[i].amount;
                if (amounts) posted = *amounts;
                EXPECT_EQ(t.posted_amounts, posted);
            } else {
                EXPECT_TRUE(t.posted_amounts.empty());
            }
            for (std::size_t i = 0; i < t.entries.size(); ++i) {
                rows.emplace_back(t.entries[i].account_id, t.entries[i].direction, kind,
                                  -t.entries[i].amount, posted[i]);
            }
            EXPECT_EQ(events,
                      (std::vector<std::pair<EventKind, std::string>>{{event, transaction_id}}));
            EXPECT_TRUE(outcome.created_transactions.empty());
            EXPECT_EQ(outcome.updated_transactions, std::vector<std::string>{transaction_id});
        }
        EXPECT_EQ(outcome.journal.size(), rows.size());
        for (std::size_t i = 0; i < std::min(rows.size(), outcome.journal.size()); ++i) {
            const JournalEntry& row = outcome.journal[i];
            const auto& [account_id, direction, kind, pending_delta, posted_delta] = rows[i];
            EXPECT_EQ(row.transaction_id, transaction_id);
            EXPECT_EQ(row.account_id, account_id);
            EXPECT_EQ(row.direction, direction);
            EXPECT_EQ(row.kind, kind);
            EXPECT_EQ(row.pending_delta, pending_delta);
            EXPECT_EQ(row.posted_delta, posted_delta);
            EXPECT_EQ(row.effective_at, after.transactions.at(transaction_id).effective_at);
        }
    }

    void RunBatch(const std::vector<Command>& batch, Atomicity atomicity) {
        SCOPED_TRACE(atomicity == Atomicity::kAllOrNothing
                         ? "all-or-nothing batch of " + std::to_string(batch.size())
                         : "independent batch of " + std::to_string(batch.size()));
        const BatchState slice_before = Slice(batch);

        // The reference: every command alone, in order, each checked on its own.
        BatchState reference = slice_before;
        std::vector<BatchOutcome> singles;
        std::optional<std::size_t> first_failure;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            SCOPED_TRACE("command " + std::to_string(i));
            singles.push_back(RunSingle(reference, batch[i]));
            if (singles.back().results.size() != 1) return;
            if (!first_failure && !Succeeded(singles.back().results[0].code)) first_failure = i;
        }

        BatchState slice = slice_before;
        BatchOutcome outcome = Apply(slice, batch, now_, atomicity);
        ASSERT_EQ(outcome.results.size(), batch.size());
        for (const auto& result : outcome.results) ++code_counts_[result.code];

        if (atomicity == Atomicity::kAllOrNothing && first_failure) {
            const std::size_t f = *first_failure;
            for (std::size_t i = 0; i < batch.size(); ++i) {
                if (i == f) {
                    EXPECT_TRUE(SameResult(outcome.results[i], singles[i].results[0]))
                        << "failing command " << i << ": " << Name(outcome.results[i].code)
                        << " vs " << Name(singles[i].results[0].code);
                    continue;
                }
                EXPECT_EQ(outcome.results[i].code, ResultCode::kBatchFailed) << i;
                EXPECT_EQ(outcome.results[i].failed_index, f) << i;
                EXPECT_EQ(outcome.results[i].transaction_id, TransactionIdsOf(batch[i]).back());
            }
            // A late post or void that found its timeout passed: the expiry it reports is applied,
            // and nothing else (the same as expiring that transaction alone).
            const CommandResult& failing = outcome.results[f];
            const auto pending_before = slice_before.transactions.find(failing.transaction_id);
            if (failing.code == ResultCode::kNotPending &&
                failing.status == TransactionStatus::kExpired &&
                pending_before != slice_before.transactions.end() &&
                pending_before->second.status == TransactionStatus::kPending) {
                BatchState expired_alone = slice_before;
                BatchOutcome expiry = Apply(expired_alone, {ExpirePending{failing.transaction_id}},
                                            now_, Atomicity::kIndependent);
                EXPECT_EQ(expiry.results[0].code, ResultCode::kOk);
                EXPECT_TRUE(SameState(expired_alone, slice))
                    << "a failed all-or-nothing batch changed more than the due expiry";
                EXPECT_EQ(outcome.journal.size(), expiry.journal.size());
                EXPECT_TRUE(outcome.created_transactions.empty());
                return;
            }
            EXPECT_TRUE(outcome.journal.empty() && outcome.events.empty() &&
                        outcome.changed_accounts.empty() && outcome.created_transactions.empty() &&
                        outcome.updated_transactions.empty());
            EXPECT_TRUE(SameState(slice_before, slice))
                << "a failed all-or-nothing batch changed state";
            return;
        }

        // Otherwise the batch is the commands one after another.
        std::vector<JournalEntry> journal;
        std::vector<DomainEvent> events;
        std::set<std::string> created;
        std::set<std::string> updated;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            EXPECT_TRUE(SameResult(outcome.results[i], singles[i].results[0]))
                << "command " << i << ": " << Name(outcome.results[i].code) << " in the batch, "
                << Name(singles[i].results[0].code) << " alone";
            journal.insert(journal.end(), singles[i].journal.begin(), singles[i].journal.end());
            events.insert(events.end(), singles[i].events.begin(), singles[i].events.end());
            created.insert(singles[i].created_transactions.begin(),
                           singles[i].created_transactions.end());
            updated.insert(singles[i].updated_transactions.begin(),
                           singles[i].updated_transactions.end());
        }
        for (const auto& id : created) updated.erase(id);
        EXPECT_TRUE(SameState(reference, slice))
            << "the batch differs from its commands applied one by one";
        EXPECT_TRUE(std::equal(journal.begin(), journal.end(), outcome.journal.begin(),
                               outcome.journal.end(), SameRow));
        EXPECT_EQ(events.size(), outcome.events.size());
        for (std::size_t i = 0; i < std::min(events.size(), outcome.events.size()); ++i) {
            EXPECT_EQ(events[i].kind, outcome.events[i].kind);
            EXPECT_EQ(events[i].transaction_id, outcome.events[i].transaction_id);
        }
        EXPECT_EQ(std::set<std::string>(outcome.created_transactions.begin(),
                                        outcome.created_transactions.end()),
                  created);
        EXPECT_EQ(outcome.created_transactions.size(), created.size());
        EXPECT_EQ(std::set<std::string>(outcome.updated_transactions.begin(),
                                        outcome.updated_transactions.end()),
                  updated);
        EXPECT_EQ(outcome.updated_transactions.size(), updated.size());
        std::set<std::string> moved;
        for (const auto& row : outcome.journal) moved.insert(row.account_id);
        EXPECT_EQ(
            std::set<std::string>(outcome.changed_accounts.begin(), outcome.changed_accounts.end()),
            moved);
        EXPECT_EQ(outcome.changed_accounts.size(), moved.size());

        // Nothing outside the lists changed: the store writes only what they name.
        for (const auto& [id, account] : slice.accounts) {
            if (!moved.count(id)) {
                EXPECT_TRUE(SameAccount(account, slice_before.accounts.at(id))) << id;
            }
        }
        for (const auto& [id, t] : slice.transactions) {
            if (created.count(id) || updated.count(id)) continue;
            auto old = slice_before.transactions.find(id);
            EXPECT_TRUE(old != slice_before.transactions.end() && SameTransaction(t, old->second))
                << id;
        }

        Commit(slice, outcome);
        for (std::size_t i = 0; i < batch.size(); ++i)
            CountApplied(batch[i], outcome.results[i], outcome);
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (outcome.results[i].code == ResultCode::kOk &&
                (std::holds_alternative<CreateTransaction>(batch[i]) ||
                 std::holds_alternative<Reverse>(batch[i]))) {
                succeeded_.push_back(batch[i]);
            }
        }
    }

    // Counts what was applied, by kind, to show (and check) what the run covered.
    void CountApplied(const Command& command, const CommandResult& result,
                      const BatchOutcome& outcome) {
        if (result.code == ResultCode::kNotPending &&
            (std::holds_alternative<PostPending>(command) ||
             std::holds_alternative<VoidPending>(command)) &&
            std::any_of(outcome.journal.begin(), outcome.journal.end(), [&](const auto& row) {
                return row.transaction_id == result.transaction_id &&
                       row.kind == JournalKind::kExpired;
            })) {
            ++applied_counts_["expire_instead_of_post_or_void"];
        }
        if (result.code != ResultCode::kOk) return;
        if (const auto* c = std::get_if<CreateTransaction>(&command)) {
            ++applied_counts_[c->pending ? "create_pending" : "create_posted"];
            if (c->entries.size() == kEntriesMax) ++applied_counts_["create_64_entries"];
            std::set<std::string> currencies;
            bool near_max = false;
            for (const auto& entry : c->entries) {
                currencies.insert(currency_of_[entry.account_id]);
                near_max = near_max || entry.amount >= kMax - 2;
            }
            if (currencies.size() > 1) ++applied_counts_["create_fx"];
            if (near_max) ++applied_counts_["create_near_int64_max"];
        } else if (const auto* p = std::get_if<PostPending>(&command)) {
            const Transaction& t = ledger_.transactions.at(p->id);
            bool partial = false;
            for (std::size_t i = 0; i < t.entries.size(); ++i) {
                partial = partial || t.posted_amounts[i] < t.entries[i].amount;
            }
            ++applied_counts_[partial ? "post_partial" : "post_full"];
        } else if (std::holds_alternative<VoidPending>(command)) {
            ++applied_counts_["void"];
        } else if (std::holds_alternative<ExpirePending>(command)) {
            ++applied_counts_["expire"];
        } else {
            const Transaction& original =
                ledger_.transactions.at(std::get<Reverse>(command).original_id);
            ++applied_counts_["reverse"];
            if (original.created_pending &&
                original.posted_amounts !=
                    std::vector<std::int64_t>(original.posted_amounts.size(), 0) &&
                !std::equal(original.posted_amounts.begin(), original.posted_amounts.end(),
                            original.entries.begin(), original.entries.end(),
                            [](std::int64_t posted, const EntrySpec& entry) {
                                return posted == entry.amount;
                            })) {
                ++applied_counts_["reverse_partially_posted"];
            }
        }
    }

    // Writes what the outcome names into the ledger, as the store would, and checks every
    // invariant against the test's own records.
    void Commit(const BatchState& slice, const BatchOutcome& outcome) {
        for (const auto& id : outcome.changed_accounts)
            ledger_.accounts.at(id) = slice.accounts.at(id);
        std::vector<std::string> touched;
        for (const auto& id : outcome.updated_transactions) {
            auto it = ledger_.transactions.find(id);
            EXPECT_NE(it, ledger_.transactions.end()) << "updated but not existing: " << id;
            if (it == ledger_.transactions.end()) continue;
            AddContribution(status_sums_, it->second, -1);
            it->second = slice.transactions.at(id);
            AddContribution(status_sums_, it->second, +1);
            touched.push_back(id);
        }
        for (const auto& id : outcome.created_transactions) {
            auto [it, inserted] = ledger_.transactions.emplace(id, slice.transactions.at(id));
            EXPECT_TRUE(inserted) << "created but existing: " << id;
            if (!inserted) continue;
            AddContribution(status_sums_, it->second, +1);
            transaction_ids_.push_back(id);
            touched.push_back(id);
        }

        // Each row's `after` is the running sum of the journal; the journal balances per
        // currency and kind of change.
        std::map<std::tuple<std::string, JournalKind, std::string>, std::pair<Wide, Wide>> balance;
        for (const auto& row : outcome.journal) {
            EXPECT_EQ(row.currency, currency_of_[row.account_id]);
            WideCounters& running = journal_sums_[row.account_id];
            running.Pending(row.direction) += row.pending_delta;
            running.Posted(row.direction) += row.posted_delta;
            EXPECT_TRUE(WideCounters::From(row.after) == running)
                << row.transaction_id << " " << row.account_id << ": after "
                << Describe(WideCounters::From(row.after)) << ", journal sums "
                << Describe(running);
            const int sign = row.direction == Direction::kDebit ? 1 : -1;
            auto& [pending, posted] = balance[{row.transaction_id, row.kind, row.currency}];
            pending += sign * static_cast<Wide>(row.pending_delta);
            posted += sign * static_cast<Wide>(row.posted_delta);
            auto& kinds = kinds_[row.transaction_id];
            if (kinds.empty() || kinds.back() != row.kind) kinds.push_back(row.kind);
            journal_.push_back(row);
        }
        for (const auto& [key, sums] : balance) {
            EXPECT_TRUE(sums.first == 0 && sums.second == 0)
                << std::get<0>(key) << " " << JournalKindName(std::get<1>(key)) << " "
                << std::get<2>(key) << " does not balance";
        }

        CheckAccounts();
        for (const auto& id : touched) CheckTransaction(ledger_.transactions.at(id));

        pending_ids_.clear();
        expirable_ids_.clear();
        for (const auto& id : touched) {
            const Transaction& t = ledger_.transactions.at(id);
            if (t.status == TransactionStatus::kPending)
                pending_.insert(id);
            else
                pending_.erase(id);
            if (t.status == TransactionStatus::kPosted &&
                std::find(outcome.created_transactions.begin(), outcome.created_transactions.end(),
                          id) != outcome.created_transactions.end()) {
                posted_ids_.push_back(id);
            } else if (t.status == TransactionStatus::kPosted && t.created_pending &&
                       t.reversed_by_id.empty()) {
                posted_ids_.push_back(id);
            }
        }
        for (const auto& id : pending_) {
            pending_ids_.push_back(id);
            if (ledger_.transactions.at(id).expires_at) expirable_ids_.push_back(id);
        }
    }

    // Every account: counters equal the sums of its journal rows and of its transactions by
    // status, are valid, and satisfy its flags; per currency, debits equal credits.
    void CheckAccounts() {
        std::map<std::string, WideCounters> per_currency;
        for (const auto& [id, account] : ledger_.accounts) {
            const WideCounters counters = WideCounters::From(account.counters);
            EXPECT_TRUE(counters == journal_sums_[id])
                << id << ": counters " << Describe(counters) << ", journal sums "
                << Describe(journal_sums_[id]);
            EXPECT_TRUE(counters == status_sums_[id])
                << id << ": counters " << Describe(counters) << ", transactions by status "
                << Describe(status_sums_[id]);
            EXPECT_TRUE(CountersValid(account.counters) && Fits(counters))
                << id << " " << Describe(counters);
            EXPECT_TRUE(FlagsSatisfied(account.flags, account.counters))
                << id << " " << Describe(counters);
            if (account.flags.debits_must_not_exceed_credits) {
                EXPECT_LE(counters.pending_debits + counters.posted_debits, counters.posted_credits)
                    << id;
            }
            if (account.flags.credits_must_not_exceed_debits) {
                EXPECT_LE(counters.pending_credits + counters.posted_credits,
                          counters.posted_debits)
                    << id;
            }
            WideCounters& total = per_currency[account.currency];
            total.pending_debits += counters.pending_debits;
            total.pending_credits += counters.pending_credits;
            total.posted_debits += counters.posted_debits;
            total.posted_credits += counters.posted_credits;
        }
        for (const auto& [currency, total] : per_currency) {
            EXPECT_TRUE(total.posted_debits == total.posted_credits)
                << currency << " posted " << Describe(total);
            EXPECT_TRUE(total.pending_debits == total.pending_credits)
                << currency << " pending " << Describe(total);
        }
    }

    // A stored transaction is consistent with its status, its journal and its links.
    void CheckTransaction(const Transaction& t) {
        SCOPED_TRACE("transaction " + t.id);
        EXPECT_TRUE(IdLooksValid(t.id));
        EXPECT_GE(t.entries.size(), 2u);
        EXPECT_LE(t.entries.size(), 64u);
        EXPECT_EQ(t.currencies.size(), t.entries.size());
        std::vector<std::int64_t> amounts;
        for (std::size_t i = 0; i < t.entries.size(); ++i) {
            EXPECT_GT(t.entries[i].amount, 0);
            if (i < t.currencies.size()) {
                EXPECT_EQ(t.currencies[i], currency_of_[t.entries[i].account_id]);
            }
            amounts.push_back(t.entries[i].amount);
        }
        EXPECT_EQ(PredictBalance(t.entries, t.currencies, amounts), ResultCode::kOk);
        if (t.timeout_seconds) {
            EXPECT_TRUE(t.created_pending);
            EXPECT_EQ(t.expires_at, t.created_at + *t.timeout_seconds * kSecond);
        } else {
            EXPECT_EQ(t.expires_at, std::nullopt);
        }
        const std::vector<JournalKind>& kinds = kinds_[t.id];
        switch (t.status) {
            case TransactionStatus::kPending:
                EXPECT_TRUE(t.created_pending);
                EXPECT_TRUE(t.posted_amounts.empty());
                EXPECT_EQ(kinds, std::vector<JournalKind>{JournalKind::kCreated});
                break;
            case TransactionStatus::kVoided:
            case TransactionStatus::kExpired:
                EXPECT_TRUE(t.created_pending);
                EXPECT_TRUE(t.posted_amounts.empty());
                EXPECT_EQ(kinds, (std::vector<JournalKind>{JournalKind::kCreated,
                                                           t.status == TransactionStatus::kVoided
                                                               ? JournalKind::kVoided
                                                               : JournalKind::kExpired}));
                EXPECT_TRUE(t.reversed_by_id.empty());
                break;
            case TransactionStatus::kPosted: {
                EXPECT_EQ(t.posted_amounts.size(), t.entries.size());
                if (t.posted_amounts.size() != t.entries.size()) break;
                bool any = false;
                for (std::size_t i = 0; i < t.entries.size(); ++i) {
                    EXPECT_GE(t.posted_amounts[i], 0);
                    EXPECT_LE(t.posted_amounts[i], t.entries[i].amount);
                    any = any || t.posted_amounts[i] > 0;
                }
                EXPECT_TRUE(any);
                EXPECT_EQ(PredictBalance(t.entries, t.currencies, t.posted_amounts),
                          ResultCode::kOk);
                if (t.created_pending) {
                    EXPECT_EQ(kinds, (std::vector<JournalKind>{JournalKind::kCreated,
                                                               JournalKind::kPosted}));
                } else {
                    EXPECT_EQ(t.posted_amounts, amounts);
                    EXPECT_EQ(kinds, std::vector<JournalKind>{JournalKind::kCreated});
                }
                break;
            }
        }
        if (!t.reverses_id.empty()) {
            auto original = ledger_.transactions.find(t.reverses_id);
            EXPECT_NE(original, ledger_.transactions.end());
            if (original != ledger_.transactions.end()) {
                EXPECT_EQ(original->second.reversed_by_id, t.id);
                EXPECT_EQ(t.status, TransactionStatus::kPosted);
            }
        }
        if (!t.reversed_by_id.empty()) {
            auto reversal = ledger_.transactions.find(t.reversed_by_id);
            EXPECT_NE(reversal, ledger_.transactions.end());
            if (reversal != ledger_.transactions.end()) {
                EXPECT_EQ(reversal->second.reverses_id, t.id);
            }
            EXPECT_EQ(t.status, TransactionStatus::kPosted);
        }
    }

    // Recomputes everything from scratch: the journal sums from every row, the status sums from
    // every transaction.
    void FullCheck() {
        SCOPED_TRACE("full check");
        std::map<std::string, WideCounters> from_journal;
        for (const auto& row : journal_) {
            WideCounters& c = from_journal[row.account_id];
            c.Pending(row.direction) += row.pending_delta;
            c.Posted(row.direction) += row.posted_delta;
        }
        std::map<std::string, WideCounters> from_status;
        for (const auto& [id, t] : ledger_.transactions) {
            AddContribution(from_status, t, +1);
            CheckTransaction(t);
        }
        for (const auto& [id, account] : ledger_.accounts) {
            const WideCounters counters = WideCounters::From(account.counters);
            EXPECT_TRUE(counters == from_journal[id]) << id;
            EXPECT_TRUE(counters == from_status[id]) << id;
        }
        CheckAccounts();
    }

    Rng rng_;
    Micros now_ = kStart;
    int next_id_ = 0;
    BatchState ledger_;
    std::vector<std::string> currencies_;
    std::vector<std::string> account_ids_;
    std::map<std::string, std::string> currency_of_;
    std::map<std::string, std::vector<std::string>> ordinary_;
    std::map<std::string, std::vector<std::string>> whales_;

    // What the generator knows.
    std::map<std::string, std::vector<std::pair<std::size_t, std::size_t>>> legs_;
    std::map<std::string, CreateTransaction> batch_creates_;
    std::vector<Command> succeeded_;
    std::vector<std::string> transaction_ids_;
    std::set<std::string> pending_;
    std::vector<std::string> pending_ids_;
    std::vector<std::string> expirable_ids_;
    std::vector<std::string> posted_ids_;

    // The test's own record, independent of the state machine's counters.
    std::vector<JournalEntry> journal_;
    std::map<std::string, WideCounters> journal_sums_;
    std::map<std::string, WideCounters> status_sums_;
    std::map<std::string, std::vector<JournalKind>> kinds_;
    std::map<ResultCode, int> code_counts_;
    std::map<std::string, int> applied_counts_;
};

TEST(RandomizedLedger, InvariantsHoldOverThousandsOfCommands) {
    const std::uint64_t seed = SeedFromEnvironment();
    std::cout << "[ledger randomized] LEDGER_RANDOM_SEED=" << seed << std::endl;
    SCOPED_TRACE("LEDGER_RANDOM_SEED=" + std::to_string(seed));
    Simulation simulation(seed);
    simulation.Run();
}

}  // namespace
}  // namespace ledger::domain
