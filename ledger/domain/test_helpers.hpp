#pragma once

// Shared by the state machine's tests: gtest printers for its enums and counters, and
// field-by-field equality of states (the domain types define no operator== of their own).

#include <algorithm>
#include <ostream>

#include "ledger/domain/state_machine.hpp"

namespace ledger::domain {

// Readable failure messages for the enums and counters the test compares.
inline void PrintTo(ResultCode code, std::ostream* os) { *os << ResultCodeName(code); }
inline void PrintTo(TransactionStatus status, std::ostream* os) { *os << StatusName(status); }
inline void PrintTo(JournalKind kind, std::ostream* os) { *os << JournalKindName(kind); }
inline void PrintTo(EventKind kind, std::ostream* os) { *os << EventTypeName(kind); }
inline void PrintTo(Direction direction, std::ostream* os) { *os << DirectionName(direction); }
inline void PrintTo(const Counters& c, std::ostream* os) {
    *os << "{pending_debits=" << c.pending_debits << " pending_credits=" << c.pending_credits
        << " posted_debits=" << c.posted_debits << " posted_credits=" << c.posted_credits << "}";
}

inline bool SameAccount(const Account& a, const Account& b) {
    return a.id == b.id && a.currency == b.currency && a.normal_balance == b.normal_balance &&
           a.flags == b.flags && a.closed == b.closed && a.lock_version == b.lock_version &&
           a.counters == b.counters;
}

inline bool SameTransaction(const Transaction& a, const Transaction& b) {
    return a.id == b.id && a.status == b.status && a.created_pending == b.created_pending &&
           a.entries == b.entries && a.currencies == b.currencies &&
           a.posted_amounts == b.posted_amounts && a.timeout_seconds == b.timeout_seconds &&
           a.expires_at == b.expires_at && a.effective_at == b.effective_at &&
           a.created_at == b.created_at && a.description == b.description &&
           a.metadata_json == b.metadata_json && a.reverses_id == b.reverses_id &&
           a.reversed_by_id == b.reversed_by_id;
}

inline bool SameState(const BatchState& a, const BatchState& b) {
    return std::equal(a.accounts.begin(), a.accounts.end(), b.accounts.begin(), b.accounts.end(),
                      [](const auto& x, const auto& y) {
                          return x.first == y.first && SameAccount(x.second, y.second);
                      }) &&
           std::equal(a.transactions.begin(), a.transactions.end(), b.transactions.begin(),
                      b.transactions.end(), [](const auto& x, const auto& y) {
                          return x.first == y.first && SameTransaction(x.second, y.second);
                      });
}

}  // namespace ledger::domain
