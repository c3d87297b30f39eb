// Composition root of the payout service: pays merchants and couriers, reserving funds in the
// ledger first.
#include <vector>

#include "commons/migrations.hpp"
#include "middleware/service_host.hpp"

namespace payout {
const std::vector<commons::Migration>& Migrations();  // generated from migrations/*.sql
}

int main(int argc, char** argv) {
    return middleware::RunService({.name = "payout",
                                   .default_port = 8083,
                                   .migrations = payout::Migrations(),
                                   .add_routes = {}},
                                  argc, argv);
}
