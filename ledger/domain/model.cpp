#include "ledger/domain/model.hpp"

#include <algorithm>
#include <limits>

#include "commons/money.hpp"

namespace ledger::domain {

std::string_view DirectionName(Direction direction) {
    return direction == Direction::kDebit ? "debit" : "credit";
}

std::optional<Direction> ParseDirection(std::string_view text) {
    if (text == "debit") return Direction::kDebit;
    if (text == "credit") return Direction::kCredit;
    return std::nullopt;
}

std::optional<std::int64_t> ParseEntryId(std::string_view id) {
    constexpr std::string_view kPrefix = "ent_";
    constexpr std::size_t kDigitsMax = 18;  // below 2^63 whatever the digits
    if (id.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
    const std::string_view digits = id.substr(kPrefix.size());
    if (digits.empty() || digits.size() > kDigitsMax) return std::nullopt;
    std::int64_t value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    if (value < 1) return std::nullopt;
    return value;
}

std::string_view NormalBalanceName(NormalBalance side) {
    return side == NormalBalance::kDebit ? "debit" : "credit";
}

std::optional<NormalBalance> ParseNormalBalance(std::string_view text) {
    if (text == "debit") return NormalBalance::kDebit;
    if (text == "credit") return NormalBalance::kCredit;
    return std::nullopt;
}

std::string_view StatusName(TransactionStatus status) {
    switch (status) {
        case TransactionStatus::kPending:
            return "pending";
        case TransactionStatus::kPosted:
            return "posted";
        case TransactionStatus::kVoided:
            return "voided";
        case TransactionStatus::kExpired:
            return "expired";
    }
    return "unknown";
}

std::optional<TransactionStatus> ParseStatus(std::string_view text) {
    if (text == "pending") return TransactionStatus::kPending;
    if (text == "posted") return TransactionStatus::kPosted;
    if (text == "voided") return TransactionStatus::kVoided;
    if (text == "expired") return TransactionStatus::kExpired;
    return std::nullopt;
}

bool IsValidId(std::string_view id) {
    if (id.empty() || id.size() > kIdBytesMax) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.' || c == ':';
    });
}

bool CountersValid(const Counters& c) {
    if (c.pending_debits < 0 || c.pending_credits < 0 || c.posted_debits < 0 ||
        c.posted_credits < 0) {
        return false;
    }
    return commons::CheckedAdd(c.pending_debits, c.posted_debits).has_value() &&
           commons::CheckedAdd(c.pending_credits, c.posted_credits).has_value();
}

bool FlagsSatisfied(const AccountFlags& flags, const Counters& c) {
    // Precondition: CountersValid(c), so the sums fit.
    if (flags.debits_must_not_exceed_credits &&
        c.pending_debits + c.posted_debits > c.posted_credits) {
        return false;
    }
    if (flags.credits_must_not_exceed_debits &&
        c.pending_credits + c.posted_credits > c.posted_debits) {
        return false;
    }
    return true;
}

Balances ComputeBalances(NormalBalance side, const Counters& c) {
    // With CountersValid(c) every term is in [0, int64 max], so each difference fits.
    const std::int64_t debits_total = c.pending_debits + c.posted_debits;
    const std::int64_t credits_total = c.pending_credits + c.posted_credits;
    Balances b;
    if (side == NormalBalance::kDebit) {
        b.posted = c.posted_debits - c.posted_credits;
        b.pending = debits_total - credits_total;
        b.available = c.posted_debits - credits_total;
    } else {
        b.posted = c.posted_credits - c.posted_debits;
        b.pending = credits_total - debits_total;
        b.available = c.posted_credits - debits_total;
    }
    return b;
}

std::vector<std::string> AccountIdsOf(const std::vector<EntrySpec>& entries) {
    std::vector<std::string> ids;
    ids.reserve(entries.size());
    for (const auto& entry : entries) ids.push_back(entry.account_id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

}  // namespace ledger::domain
