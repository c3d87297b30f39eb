#pragma once

// The ledger's HTTP API (docs/ledger.md, docs/openapi/ledger.yaml).

namespace commons::http {
class Router;
}

namespace ledger::app {
class Ledger;
}

namespace ledger::api {

// Most transactions one batch request may carry. A thousand two-entry transactions are about
// 200 KB of JSON, well inside the server's body limit, and lock at most a few thousand rows.
inline constexpr int kBatchTransactionsMax = 1000;

// Adds every /v1 route of the ledger. `ledger` must outlive the router.
void AddRoutes(app::Ledger& ledger, commons::http::Router& router);

}  // namespace ledger::api
