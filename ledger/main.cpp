// Composition root of the ledger service: the double-entry source of truth for balances.
#include <vector>

#include "commons/migrations.hpp"
#include "middleware/service_host.hpp"

namespace ledger {
const std::vector<commons::Migration>& Migrations();  // generated from migrations/*.sql
}

int main(int argc, char** argv) {
    return middleware::RunService({.name = "ledger",
                                   .default_port = 8081,
                                   .migrations = ledger::Migrations(),
                                   .add_routes = {}},
                                  argc, argv);
}
