// Composition root of the webhook service: verifies processor webhooks and delivers our events to
// subscribers.
#include <vector>

#include "commons/migrations.hpp"
#include "middleware/service_host.hpp"

namespace webhook {
const std::vector<commons::Migration>& Migrations();  // generated from migrations/*.sql
}

int main(int argc, char** argv) {
    return middleware::RunService({.name = "webhook",
                                   .default_port = 8084,
                                   .migrations = webhook::Migrations(),
                                   .add_routes = {}},
                                  argc, argv);
}
