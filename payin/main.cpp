// Composition root of the payin service: takes money from customers through card processors.
#include <vector>

#include "commons/migrations.hpp"
#include "middleware/service_host.hpp"

namespace payin {
const std::vector<commons::Migration>& Migrations();  // generated from migrations/*.sql
}

int main(int argc, char** argv) {
    return middleware::RunService({.name = "payin",
                                   .default_port = 8082,
                                   .migrations = payin::Migrations(),
                                   .add_routes = {}},
                                  argc, argv);
}
