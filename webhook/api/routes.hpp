#pragma once

// The webhook service's HTTP API (docs/webhook.md).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "webhook/domain/policy.hpp"

namespace commons {
class IdGenerator;
class SecretStore;
namespace http {
class Router;
}
}  // namespace commons

namespace webhook::store {
class PgWebhookStore;
}

namespace webhook::app {
class DeliveryEngine;
class InboundWorker;
}  // namespace webhook::app

namespace webhook::api {

// The path under /v1 that is authenticated by signature instead of an API key.
inline constexpr const char* kInboundPrefix = "/v1/inbound/";

struct ApiDependencies {
    store::PgWebhookStore& store;
    app::DeliveryEngine& engine;
    app::InboundWorker& inbound;
    const commons::SecretStore& secrets;
    commons::IdGenerator& ids;
    std::function<domain::Micros()> clock;
    std::int64_t stripe_tolerance_seconds = 300;
    // How long a rotated-out secret keeps signing.
    domain::Micros secret_overlap_us = 24LL * 3600 * domain::kMicrosPerSecond;
    // Endpoint URLs may use plain http and name private addresses (tests, local development).
    bool allow_http = false;
    bool allow_private_targets = false;
    // The retention period (0: none). Deliveries older than it, less an hour's margin, are left
    // to the purge: retry and recover refuse them (docs/webhook.md, "Retention").
    domain::Micros retention_us = 0;
};

// Adds every /v1 route of the service. Everything referenced must outlive the router.
void AddRoutes(const ApiDependencies& dependencies, commons::http::Router& router);

// The inbound signing secrets from the `stripe-webhook-secrets` secret (a file of one secret per
// line, or PAYMENTS_STRIPE_WEBHOOK_SECRETS separated by commas); blank lines and `#` comments
// are skipped. Read on every request, so a rotation needs no restart.
std::vector<std::string> StripeWebhookSecrets(const commons::SecretStore& secrets);

// Parses the list form on its own (for tests): pieces separated by newlines or commas.
std::vector<std::string> ParseSecretList(std::string_view text);

}  // namespace webhook::api
