#include "ledger/domain/state_machine.hpp"

#include <algorithm>
#include <set>

#include "commons/assert.hpp"
#include "commons/money.hpp"

namespace ledger::domain {

std::string_view ResultCodeName(ResultCode code) {
    switch (code) {
        case ResultCode::kOk:
            return "ok";
        case ResultCode::kReplayed:
            return "replayed";
        case ResultCode::kIdInvalid:
            return "id_invalid";
        case ResultCode::kEntriesCountInvalid:
            return "entries_count_invalid";
        case ResultCode::kAmountInvalid:
            return "amount_invalid";
        case ResultCode::kAccountsMustBeDifferent:
            return "accounts_must_be_different";
        case ResultCode::kTimeoutInvalid:
            return "timeout_invalid";
        case ResultCode::kLockVersionAccountInvalid:
            return "lock_version_account_invalid";
        case ResultCode::kAccountNotFound:
            return "account_not_found";
        case ResultCode::kAccountClosed:
            return "account_closed";
        case ResultCode::kCurrencyMismatch:
            return "currency_mismatch";
        case ResultCode::kUnbalanced:
            return "unbalanced";
        case ResultCode::kExceedsCredits:
            return "exceeds_credits";
        case ResultCode::kExceedsDebits:
            return "exceeds_debits";
        case ResultCode::kLockVersionMismatch:
            return "lock_version_mismatch";
        case ResultCode::kOverflow:
            return "overflow";
        case ResultCode::kExistsWithDifferentFields:
            return "transaction_exists_with_different_fields";
        case ResultCode::kTransactionNotFound:
            return "transaction_not_found";
        case ResultCode::kNotPending:
            return "transaction_not_pending";
        case ResultCode::kNotDue:
            return "transaction_not_due";
        case ResultCode::kPostAmountsInvalid:
            return "post_amounts_invalid";
        case ResultCode::kNotPosted:
            return "transaction_not_posted";
        case ResultCode::kAlreadyReversed:
            return "already_reversed";
        case ResultCode::kBatchFailed:
            return "batch_failed";
    }
    return "unknown";
}

std::string_view JournalKindName(JournalKind kind) {
    switch (kind) {
        case JournalKind::kCreated:
            return "created";
        case JournalKind::kPosted:
            return "posted";
        case JournalKind::kVoided:
            return "voided";
        case JournalKind::kExpired:
            return "expired";
    }
    return "unknown";
}

std::optional<JournalKind> ParseJournalKind(std::string_view text) {
    for (JournalKind kind : {JournalKind::kCreated, JournalKind::kPosted, JournalKind::kVoided,
                             JournalKind::kExpired}) {
        if (text == JournalKindName(kind)) return kind;
    }
    return std::nullopt;
}

std::string_view EventTypeName(EventKind kind) {
    switch (kind) {
        case EventKind::kPosted:
            return "ledger.transaction.posted";
        case EventKind::kPending:
            return "ledger.transaction.pending";
        case EventKind::kVoided:
            return "ledger.transaction.voided";
        case EventKind::kExpired:
            return "ledger.transaction.expired";
        case EventKind::kReversed:
            return "ledger.transaction.reversed";
    }
    return "ledger.transaction.unknown";
}

std::vector<std::string> TransactionIdsOf(const Command& command) {
    return std::visit(
        [](const auto& c) -> std::vector<std::string> {
            using T = std::decay_t<decltype(c)>;
            if constexpr (std::is_same_v<T, Reverse>) {
                return {c.original_id, c.reversal_id};
            } else {
                return {c.id};
            }
        },
        command);
}

CloseResult Close(Account& account) {
    if (account.closed) return CloseResult::kAlreadyClosed;
    if (account.counters.pending_debits != 0 || account.counters.pending_credits != 0) {
        return CloseResult::kHasPending;
    }
    account.closed = true;
    ++account.lock_version;
    return CloseResult::kOk;
}

ReopenResult Reopen(Account& account) {
    if (!account.closed) return ReopenResult::kNotClosed;
    account.closed = false;
    ++account.lock_version;
    return ReopenResult::kOk;
}

namespace {

using commons::CheckedAdd;

CommandResult MakeResult(ResultCode code, std::string transaction_id, std::string account_id = {}) {
    CommandResult result;
    result.code = code;
    result.transaction_id = std::move(transaction_id);
    result.account_id = std::move(account_id);
    return result;
}

std::int64_t& Side(Counters& counters, Direction direction, bool pending) {
    if (direction == Direction::kDebit) {
        return pending ? counters.pending_debits : counters.posted_debits;
    }
    return pending ? counters.pending_credits : counters.posted_credits;
}

// Checks that the amounts balance per currency: the sum of debits equals the sum of credits.
// Returns kOk, kUnbalanced or kOverflow.
ResultCode CheckBalanced(const std::vector<EntrySpec>& entries,
                         const std::vector<std::string>& currencies,
                         const std::vector<std::int64_t>& amounts) {
    std::map<std::string_view, std::pair<std::int64_t, std::int64_t>> sums;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        auto& [debits, credits] = sums[currencies[i]];
        auto& side = entries[i].direction == Direction::kDebit ? debits : credits;
        auto sum = CheckedAdd(side, amounts[i]);
        if (!sum) return ResultCode::kOverflow;
        side = *sum;
    }
    for (const auto& [currency, totals] : sums) {
        if (totals.first != totals.second) return ResultCode::kUnbalanced;
    }
    return ResultCode::kOk;
}

class Machine {
  public:
    Machine(BatchState& state, Micros now) : state_(state), now_(now) {}

    CommandResult Run(const Command& command) {
        return std::visit([this](const auto& c) { return Do(c); }, command);
    }

    BatchOutcome TakeOutcome(std::vector<CommandResult> results) {
        outcome_.results = std::move(results);
        outcome_.changed_accounts.assign(changed_accounts_.begin(), changed_accounts_.end());
        outcome_.created_transactions = created_order_;
        for (const auto& id : updated_transactions_) {
            if (!created_transactions_.count(id)) outcome_.updated_transactions.push_back(id);
        }
        return std::move(outcome_);
    }

  private:
    struct Failure {
        ResultCode code;
        std::string account_id;
    };

    // Changes the counters for `entries` (amounts given separately so posting and reversing
    // reuse it): pending amounts when `pending_delta_sign` is +1, releases them when -1 (with
    // `posted_amounts` moved to posted), posts directly when 0. Validates everything first and
    // changes nothing on failure. `check_open` refuses closed accounts (new money movement).
    std::optional<Failure> Move(const Transaction& transaction,
                                const std::vector<std::int64_t>& pending_amounts,
                                int pending_delta_sign,
                                const std::vector<std::int64_t>& posted_amounts, JournalKind kind,
                                bool check_open) {
        const auto& entries = transaction.entries;
        std::map<std::string, Counters, std::less<>> working;
        std::vector<Counters> after;
        after.reserve(entries.size());
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const auto& entry = entries[i];
            auto account = state_.accounts.find(entry.account_id);
            if (account == state_.accounts.end()) {
                return Failure{ResultCode::kAccountNotFound, entry.account_id};
            }
            if (check_open && account->second.closed) {
                return Failure{ResultCode::kAccountClosed, entry.account_id};
            }
            auto [slot, inserted] = working.try_emplace(entry.account_id, account->second.counters);
            Counters& counters = slot->second;
            if (pending_delta_sign != 0) {
                std::int64_t& pending = Side(counters, entry.direction, /*pending=*/true);
                if (pending_delta_sign > 0) {
                    auto sum = CheckedAdd(pending, pending_amounts[i]);
                    if (!sum) return Failure{ResultCode::kOverflow, entry.account_id};
                    pending = *sum;
                } else {
                    PAY_ASSERT(pending >= pending_amounts[i]);
                    pending -= pending_amounts[i];
                }
            }
            std::int64_t& posted = Side(counters, entry.direction, /*pending=*/false);
            auto sum = CheckedAdd(posted, posted_amounts[i]);
            if (!sum) return Failure{ResultCode::kOverflow, entry.account_id};
            posted = *sum;
            if (!CountersValid(counters)) return Failure{ResultCode::kOverflow, entry.account_id};
            after.push_back(counters);
        }
        for (const auto& [id, counters] : working) {
            const Account& account = state_.accounts.find(id)->second;
            if (!FlagsSatisfied(account.flags, counters)) {
                bool debit_side =
                    account.flags.debits_must_not_exceed_credits &&
                    counters.pending_debits + counters.posted_debits > counters.posted_credits;
                return Failure{
                    debit_side ? ResultCode::kExceedsCredits : ResultCode::kExceedsDebits, id};
            }
        }
        // Commit: the journal, then the accounts (one lock_version step per command).
        for (std::size_t i = 0; i < entries.size(); ++i) {
            JournalEntry row;
            row.transaction_id = transaction.id;
            row.account_id = entries[i].account_id;
            row.currency = state_.accounts.find(entries[i].account_id)->second.currency;
            row.direction = entries[i].direction;
            row.kind = kind;
            row.pending_delta = pending_delta_sign * pending_amounts[i];
            row.posted_delta = posted_amounts[i];
            row.after = after[i];
            row.effective_at = transaction.effective_at;
            outcome_.journal.push_back(std::move(row));
        }
        for (const auto& [id, counters] : working) {
            Account& account = state_.accounts.find(id)->second;
            account.counters = counters;
            ++account.lock_version;
            PAY_ASSERT(CountersValid(account.counters));
            PAY_ASSERT(FlagsSatisfied(account.flags, account.counters));
            changed_accounts_.insert(id);
        }
        return std::nullopt;
    }

    std::vector<std::string> DifferingFields(const CreateTransaction& c, const Transaction& t) {
        std::vector<std::string> fields;
        if (c.entries != t.entries) fields.emplace_back("entries");
        if (c.pending != t.created_pending || !t.reverses_id.empty()) fields.emplace_back("status");
        if (c.timeout_seconds != t.timeout_seconds) fields.emplace_back("timeout_seconds");
        if (c.effective_at && *c.effective_at != t.effective_at)
            fields.emplace_back("effective_at");
        if (c.description != t.description) fields.emplace_back("description");
        if (c.metadata_json != t.metadata_json) fields.emplace_back("metadata");
        return fields;
    }

    CommandResult Do(const CreateTransaction& c) {
        if (!IsValidId(c.id)) return MakeResult(ResultCode::kIdInvalid, c.id);
        if (auto existing = state_.transactions.find(c.id); existing != state_.transactions.end()) {
            auto fields = DifferingFields(c, existing->second);
            CommandResult result = MakeResult(
                fields.empty() ? ResultCode::kReplayed : ResultCode::kExistsWithDifferentFields,
                c.id);
            result.differing_fields = std::move(fields);
            return result;
        }
        if (c.entries.size() < kEntriesMin || c.entries.size() > kEntriesMax) {
            return MakeResult(ResultCode::kEntriesCountInvalid, c.id);
        }
        for (const auto& entry : c.entries) {
            if (entry.amount <= 0) return MakeResult(ResultCode::kAmountInvalid, c.id);
        }
        const auto account_ids = AccountIdsOf(c.entries);
        if (account_ids.size() < 2) return MakeResult(ResultCode::kAccountsMustBeDifferent, c.id);
        if (c.timeout_seconds &&
            (!c.pending || *c.timeout_seconds <= 0 || *c.timeout_seconds > kTimeoutSecondsMax)) {
            return MakeResult(ResultCode::kTimeoutInvalid, c.id);
        }
        for (const auto& [account_id, version] : c.lock_versions) {
            if (!std::binary_search(account_ids.begin(), account_ids.end(), account_id)) {
                return MakeResult(ResultCode::kLockVersionAccountInvalid, c.id, account_id);
            }
        }
        Transaction t;
        t.id = c.id;
        t.status = c.pending ? TransactionStatus::kPending : TransactionStatus::kPosted;
        t.created_pending = c.pending;
        t.entries = c.entries;
        t.timeout_seconds = c.timeout_seconds;
        if (c.timeout_seconds) t.expires_at = now_ + *c.timeout_seconds * 1'000'000;
        t.effective_at = c.effective_at.value_or(now_);
        t.created_at = now_;
        t.description = c.description;
        t.metadata_json = c.metadata_json;
        for (const auto& entry : c.entries) {
            auto account = state_.accounts.find(entry.account_id);
            if (account == state_.accounts.end()) {
                return MakeResult(ResultCode::kAccountNotFound, c.id, entry.account_id);
            }
            if (entry.currency && *entry.currency != account->second.currency) {
                return MakeResult(ResultCode::kCurrencyMismatch, c.id, entry.account_id);
            }
            t.currencies.push_back(account->second.currency);
        }
        for (const auto& [account_id, version] : c.lock_versions) {
            if (state_.accounts.find(account_id)->second.lock_version != version) {
                return MakeResult(ResultCode::kLockVersionMismatch, c.id, account_id);
            }
        }
        std::vector<std::int64_t> amounts;
        for (const auto& entry : c.entries) amounts.push_back(entry.amount);
        if (auto code = CheckBalanced(t.entries, t.currencies, amounts); code != ResultCode::kOk) {
            return MakeResult(code, c.id);
        }
        const std::vector<std::int64_t> zeros(amounts.size(), 0);
        auto failure = c.pending ? Move(t, amounts, +1, zeros, JournalKind::kCreated, true)
                                 : Move(t, zeros, 0, amounts, JournalKind::kCreated, true);
        if (failure) return MakeResult(failure->code, c.id, failure->account_id);
        if (!c.pending) t.posted_amounts = amounts;
        outcome_.events.push_back({c.pending ? EventKind::kPending : EventKind::kPosted, c.id});
        created_transactions_.insert(c.id);
        created_order_.push_back(c.id);
        state_.transactions.emplace(c.id, std::move(t));
        return MakeResult(ResultCode::kOk, c.id);
    }

    // Finds a pending transaction, or the result explaining why there is none.
    std::variant<Transaction*, CommandResult> FindPending(const std::string& id) {
        auto found = state_.transactions.find(id);
        if (found == state_.transactions.end())
            return MakeResult(ResultCode::kTransactionNotFound, id);
        if (found->second.status != TransactionStatus::kPending) {
            CommandResult result = MakeResult(ResultCode::kNotPending, id);
            result.status = found->second.status;
            return result;
        }
        return &found->second;
    }

    CommandResult Release(const std::string& id,
                          const std::optional<std::vector<std::int64_t>>& post, JournalKind kind) {
        auto found = FindPending(id);
        if (auto* result = std::get_if<CommandResult>(&found)) return *result;
        Transaction& t = *std::get<Transaction*>(found);
        // A timeout that passed wins over a late post or void, whether or not the sweeper has
        // come by yet: the transaction expires now and the command is refused.
        if (kind != JournalKind::kExpired && t.expires_at && *t.expires_at <= now_) {
            CommandResult expired = Release(id, std::nullopt, JournalKind::kExpired);
            PAY_ASSERT(expired.code == ResultCode::kOk);
            CommandResult result = MakeResult(ResultCode::kNotPending, id);
            result.status = TransactionStatus::kExpired;
            return result;
        }
        std::vector<std::int64_t> amounts;
        for (const auto& entry : t.entries) amounts.push_back(entry.amount);
        std::vector<std::int64_t> posted(amounts.size(), 0);
        if (kind == JournalKind::kExpired && (!t.expires_at || *t.expires_at > now_)) {
            return MakeResult(ResultCode::kNotDue, id);
        }
        if (kind == JournalKind::kPosted) {
            posted = post.value_or(amounts);
            if (posted.size() != amounts.size())
                return MakeResult(ResultCode::kPostAmountsInvalid, id);
            bool posts_something = false;
            for (std::size_t i = 0; i < posted.size(); ++i) {
                if (posted[i] < 0 || posted[i] > amounts[i]) {
                    return MakeResult(ResultCode::kPostAmountsInvalid, id);
                }
                posts_something = posts_something || posted[i] > 0;
            }
            // Posting nothing is a void; say so instead of booking an empty posting.
            if (!posts_something) return MakeResult(ResultCode::kPostAmountsInvalid, id);
            if (auto code = CheckBalanced(t.entries, t.currencies, posted);
                code != ResultCode::kOk) {
                return MakeResult(code, id);
            }
        }
        auto failure = Move(t, amounts, -1, posted, kind, /*check_open=*/false);
        // Releasing pending amounts only lowers totals, so no constraint or overflow can refuse.
        PAY_ASSERT(!failure);
        switch (kind) {
            case JournalKind::kPosted:
                t.status = TransactionStatus::kPosted;
                t.posted_amounts = posted;
                outcome_.events.push_back({EventKind::kPosted, id});
                break;
            case JournalKind::kVoided:
                t.status = TransactionStatus::kVoided;
                outcome_.events.push_back({EventKind::kVoided, id});
                break;
            case JournalKind::kExpired:
                t.status = TransactionStatus::kExpired;
                outcome_.events.push_back({EventKind::kExpired, id});
                break;
            case JournalKind::kCreated:
                PAY_ASSERT(false && "not a release");
        }
        updated_transactions_.insert(id);
        return MakeResult(ResultCode::kOk, id);
    }

    CommandResult Do(const PostPending& c) {
        return Release(c.id, c.amounts, JournalKind::kPosted);
    }
    CommandResult Do(const VoidPending& c) {
        return Release(c.id, std::nullopt, JournalKind::kVoided);
    }
    CommandResult Do(const ExpirePending& c) {
        return Release(c.id, std::nullopt, JournalKind::kExpired);
    }

    CommandResult Do(const Reverse& c) {
        if (!IsValidId(c.reversal_id)) return MakeResult(ResultCode::kIdInvalid, c.reversal_id);
        if (auto existing = state_.transactions.find(c.reversal_id);
            existing != state_.transactions.end()) {
            if (existing->second.reverses_id == c.original_id &&
                existing->second.description == c.description &&
                existing->second.metadata_json == c.metadata_json) {
                return MakeResult(ResultCode::kReplayed, c.reversal_id);
            }
            CommandResult result =
                MakeResult(ResultCode::kExistsWithDifferentFields, c.reversal_id);
            if (existing->second.reverses_id != c.original_id)
                result.differing_fields.emplace_back("reverses");
            if (existing->second.description != c.description)
                result.differing_fields.emplace_back("description");
            if (existing->second.metadata_json != c.metadata_json)
                result.differing_fields.emplace_back("metadata");
            return result;
        }
        auto original_it = state_.transactions.find(c.original_id);
        if (original_it == state_.transactions.end()) {
            return MakeResult(ResultCode::kTransactionNotFound, c.reversal_id);
        }
        Transaction& original = original_it->second;
        if (original.status != TransactionStatus::kPosted) {
            CommandResult result = MakeResult(ResultCode::kNotPosted, c.reversal_id);
            result.status = original.status;
            return result;
        }
        if (!original.reversed_by_id.empty())
            return MakeResult(ResultCode::kAlreadyReversed, c.reversal_id);
        Transaction t;
        t.id = c.reversal_id;
        t.status = TransactionStatus::kPosted;
        t.effective_at = now_;
        t.created_at = now_;
        t.description = c.description;
        t.metadata_json = c.metadata_json;
        t.reverses_id = c.original_id;
        std::vector<std::int64_t> amounts;
        for (std::size_t i = 0; i < original.entries.size(); ++i) {
            if (original.posted_amounts[i] == 0) continue;
            const auto& entry = original.entries[i];
            t.entries.push_back(
                {entry.account_id,
                 entry.direction == Direction::kDebit ? Direction::kCredit : Direction::kDebit,
                 original.posted_amounts[i]});
            t.currencies.push_back(original.currencies[i]);
            amounts.push_back(original.posted_amounts[i]);
        }
        PAY_ASSERT(CheckBalanced(t.entries, t.currencies, amounts) == ResultCode::kOk);
        const std::vector<std::int64_t> zeros(amounts.size(), 0);
        auto failure = Move(t, zeros, 0, amounts, JournalKind::kCreated, /*check_open=*/true);
        if (failure) return MakeResult(failure->code, c.reversal_id, failure->account_id);
        t.posted_amounts = amounts;
        original.reversed_by_id = c.reversal_id;
        updated_transactions_.insert(c.original_id);
        created_transactions_.insert(c.reversal_id);
        created_order_.push_back(c.reversal_id);
        outcome_.events.push_back({EventKind::kPosted, c.reversal_id});
        outcome_.events.push_back({EventKind::kReversed, c.original_id});
        state_.transactions.emplace(c.reversal_id, std::move(t));
        return MakeResult(ResultCode::kOk, c.reversal_id);
    }

    BatchState& state_;
    Micros now_;
    BatchOutcome outcome_;
    std::set<std::string> changed_accounts_;
    std::set<std::string> created_transactions_;
    std::vector<std::string> created_order_;  // in command order: the listing order
    std::set<std::string> updated_transactions_;
};

bool Succeeded(ResultCode code) { return code == ResultCode::kOk || code == ResultCode::kReplayed; }

// Every journal row of one transaction and kind balances per currency, on both counters.
// Sums of int64 amounts with signs cannot overflow 128 bits.
__extension__ using Wide = __int128;

void AssertJournalBalances(const std::vector<JournalEntry>& journal) {
    std::map<std::tuple<std::string_view, JournalKind, std::string_view>, std::pair<Wide, Wide>>
        sums;
    for (const auto& row : journal) {
        auto& [pending, posted] = sums[{row.transaction_id, row.kind, row.currency}];
        const int sign = row.direction == Direction::kDebit ? 1 : -1;
        pending += sign * static_cast<Wide>(row.pending_delta);
        posted += sign * static_cast<Wide>(row.posted_delta);
    }
    for (const auto& [key, totals] : sums) {
        PAY_ASSERT(totals.first == 0 && totals.second == 0);
    }
}

}  // namespace

BatchOutcome Apply(BatchState& state, const std::vector<Command>& commands, Micros now,
                   Atomicity atomicity) {
    if (atomicity == Atomicity::kAllOrNothing) {
        BatchState working = state;
        Machine machine(working, now);
        std::vector<CommandResult> results;
        results.reserve(commands.size());
        for (std::size_t i = 0; i < commands.size(); ++i) {
            results.push_back(machine.Run(commands[i]));
            if (!Succeeded(results.back().code)) {
                // Nothing is applied: the failing command keeps its code, the others say why.
                std::vector<CommandResult> failed;
                for (std::size_t j = 0; j < commands.size(); ++j) {
                    if (j == i) {
                        failed.push_back(results[i]);
                        continue;
                    }
                    CommandResult other;
                    other.code = ResultCode::kBatchFailed;
                    auto ids = TransactionIdsOf(commands[j]);
                    other.transaction_id = ids.back();
                    other.failed_index = i;
                    failed.push_back(std::move(other));
                }
                // A late post or void found its transaction's timeout passed. The expiry is not
                // the client's to refuse, it is already due: it is applied although the batch
                // is not, so the answer ("expired") is what the database then holds.
                const CommandResult& failing = results[i];
                if (failing.code == ResultCode::kNotPending &&
                    failing.status == TransactionStatus::kExpired) {
                    auto before = state.transactions.find(failing.transaction_id);
                    if (before != state.transactions.end() &&
                        before->second.status == TransactionStatus::kPending) {
                        Machine expirer(state, now);
                        const CommandResult expired =
                            expirer.Run(Command{ExpirePending{failing.transaction_id}});
                        PAY_ASSERT(expired.code == ResultCode::kOk);
                        BatchOutcome outcome = expirer.TakeOutcome(std::move(failed));
                        AssertJournalBalances(outcome.journal);
                        return outcome;
                    }
                }
                BatchOutcome outcome;
                outcome.results = std::move(failed);
                return outcome;
            }
        }
        BatchOutcome outcome = machine.TakeOutcome(std::move(results));
        AssertJournalBalances(outcome.journal);
        state = std::move(working);
        return outcome;
    }
    Machine machine(state, now);
    std::vector<CommandResult> results;
    results.reserve(commands.size());
    for (const auto& command : commands) results.push_back(machine.Run(command));
    BatchOutcome outcome = machine.TakeOutcome(std::move(results));
    AssertJournalBalances(outcome.journal);
    return outcome;
}

}  // namespace ledger::domain
