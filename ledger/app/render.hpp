#pragma once

// JSON of the ledger's objects, shared by the HTTP API and the events (one shape for both).

#include <string>

#include "ledger/app/ports.hpp"

namespace ledger::app {

std::string AccountJson(const AccountRecord& record);
std::string TransactionJson(const domain::Transaction& transaction);
std::string EntryJson(const EntryRecord& record, domain::NormalBalance side);
std::string BalancesJson(domain::NormalBalance side, const domain::Counters& counters);
std::string VerifyReportJson(const VerifyReport& report);

// Event data: {"object": <the object's JSON>}.
std::string EventDataJson(const std::string& object_json);

// Unix seconds of a microsecond timestamp, rounded down.
std::int64_t UnixSeconds(Micros micros);

}  // namespace ledger::app
