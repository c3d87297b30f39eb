#pragma once

// gtest printers for the state machine's enums and counters, shared by its tests.

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

}  // namespace ledger::domain
