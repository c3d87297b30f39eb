// The webhook service's HTTP API readers (webhook/api/routes.cpp) through its public
// interface: the service's own routes (webhook::api::AddRoutes) with a real PgWebhookStore
// whose PostgreSQL cannot be reached (a socket directory that does not exist), so a request
// its readers accept ends in commons::DatabaseUnavailableError (what the error boundary turns
// into 503) at its first statement. The store is a concrete class without a port, so there is
// no in-memory one; what the readers accept is checked instead. For each input:
//   - sent as the JSON body of every POST and PATCH route, and as Stripe's inbound webhook body
//     with a valid Stripe-Signature for it;
//   - sent as the query string of every GET route, unless the server would refuse it first.
// Asserted:
//   - a handler either answers 400, 404 or 415 with a JSON error, or reaches the database;
//     it throws nothing else;
//   - only valid input reaches the database, by rules written here from docs/webhook.md: an
//     endpoint's url is an absolute https URL naming no private address literal, at most 2048
//     bytes; event types are 1 to 100 valid patterns; a published event has a valid type and
//     object data of at most 256 KB; recover's since is a non-negative integer; an inbound
//     Stripe event has an "evt_" id and a type of at most 255 bytes;
//   - the idempotency fingerprint of the body never fails and ignores JSON formatting.
// An input "DEEP<n><rest>" is a body nested n * 256 levels deep (fuzz/json_body.hpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "check.hpp"
#include "commons/config.hpp"
#include "commons/db.hpp"
#include "commons/events.hpp"
#include "commons/http/client.hpp"
#include "commons/http/router.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "commons/secrets.hpp"
#include "http/exchange.hpp"
#include "json_body.hpp"
#include "webhook/api/routes.hpp"
#include "webhook/app/delivery_engine.hpp"
#include "webhook/app/intake.hpp"
#include "webhook/domain/policy.hpp"
#include "webhook/domain/signatures.hpp"
#include "webhook/store/webhook_store.hpp"

namespace {

using commons::http::Method;
using commons::http::Request;
using commons::http::Response;
using nlohmann::json;
namespace domain = webhook::domain;

constexpr domain::Micros kNow = 1'700'000'000'000'000;
constexpr std::string_view kStripeSecret = "whsec_fuzz_inbound";

// Everything the routes reference; built once and never destroyed (the engine's HTTP client
// runs a thread).
struct Service {
    std::FILE* null_output = std::fopen("/dev/null", "w");
    commons::Logger logger{"fuzz", null_output, commons::LogLevel::kError};
    commons::IdGenerator ids;
    commons::Metrics metrics;
    commons::ConnectionPool pool{commons::DbSettings{
        .url = "host=/nonexistent/payments-fuzz dbname=webhook", .pool_size = 1}};
    commons::Outbox outbox{"webhook", ids};
    webhook::store::PgWebhookStore store{pool, "webhook", outbox, ids};
    webhook::app::DeliveryEngine engine{store, webhook::app::EngineSettings{}, [] { return kNow; },
                                        logger, metrics};
    webhook::app::InboundHandlers handlers;
    webhook::app::InboundWorker inbound{store, handlers, [] { return kNow; }, logger,
                                        std::chrono::seconds(1)};
    commons::SecretStore secrets{
        std::nullopt,
        commons::MapEnvironment({{"PAYMENTS_STRIPE_WEBHOOK_SECRETS", std::string(kStripeSecret)}})};
    commons::http::Router router;

    Service() {
        webhook::api::AddRoutes(webhook::api::ApiDependencies{.store = store,
                                                              .engine = engine,
                                                              .inbound = inbound,
                                                              .secrets = secrets,
                                                              .ids = ids,
                                                              .clock = [] { return kNow; }},
                                router);
    }
};

bool ValidUrl(const json& value) {
    if (!value.is_string() || value.get_ref<const std::string&>().size() > 2048) return false;
    const auto url = commons::http::ParseUrl(value.get<std::string>());
    if (!url || !url->tls || url->host == "localhost") return false;
    const auto address_class = commons::http::ClassifyAddress(url->host);
    return !address_class || *address_class == commons::http::AddressClass::kPublic;
}

bool ValidEventTypes(const json& value) {
    if (!value.is_array() || value.empty() || value.size() > domain::kEventTypePatternsMax) {
        return false;
    }
    for (const auto& item : value) {
        if (!item.is_string() || !domain::IsValidEventTypePattern(item.get<std::string>())) {
            return false;
        }
    }
    return true;
}

bool ValidLimit(const json& value, std::int64_t max) {
    return value.is_null() || (value.is_number_integer() && value.get<std::int64_t>() >= 1 &&
                               value.get<std::int64_t>() <= max);
}

// Whether `body` may reach the database through `route`, by the documented rules.
bool MayReachDatabase(const std::string& path_template, Method method, const std::string& body) {
    if (path_template == "/v1/inbound/stripe") {
        const auto event = json::parse(body, nullptr, false);
        if (!event.is_object() || !event.contains("id") || !event["id"].is_string() ||
            !event.contains("type") || !event["type"].is_string()) {
            return false;
        }
        const auto& id = event["id"].get_ref<const std::string&>();
        const auto& type = event["type"].get_ref<const std::string&>();
        return id.starts_with("evt_") && id.size() <= 255 && !type.empty() && type.size() <= 255;
    }
    const auto parsed = json::parse(body, nullptr, false);
    if (path_template == "/v1/endpoints/{id}/rotate_secret" ||
        path_template == "/v1/deliveries/{id}/retry") {
        return true;  // no body is read
    }
    if (!parsed.is_object()) return false;
    if (path_template == "/v1/endpoints") {
        if (!parsed.contains("url") || !ValidUrl(parsed["url"])) return false;
        if (!parsed.contains("event_types") || !ValidEventTypes(parsed["event_types"])) {
            return false;
        }
    }
    if (path_template == "/v1/endpoints" ||
        (path_template == "/v1/endpoints/{id}" && method == Method::kPatch)) {
        for (const auto& [key, value] : parsed.items()) {
            if (key == "url" && !ValidUrl(value)) return false;
            if (key == "event_types" && !ValidEventTypes(value)) return false;
            if (key == "description" &&
                (!value.is_string() || value.get_ref<const std::string&>().size() > 1000)) {
                return false;
            }
            if ((key == "enabled" || key == "ordered") && !value.is_boolean()) return false;
            if (key == "rate_limit_per_second" && !ValidLimit(value, 100'000)) return false;
            if (key == "max_in_flight" && !ValidLimit(value, 1000)) return false;
            if (key != "url" && key != "event_types" && key != "description" && key != "enabled" &&
                key != "ordered" && key != "rate_limit_per_second" && key != "max_in_flight") {
                return false;
            }
        }
        return true;
    }
    if (path_template == "/v1/events") {
        if (parsed.size() != 2 || !parsed.contains("type") || !parsed["type"].is_string() ||
            !domain::IsValidEventType(parsed["type"].get<std::string>()) ||
            !parsed.contains("data") || !parsed["data"].is_object()) {
            return false;
        }
        return parsed["data"].dump().size() <= commons::kEventDataBytesMax;
    }
    if (path_template == "/v1/endpoints/{id}/recover") {
        return parsed.size() == 1 && parsed.contains("since") &&
               parsed["since"].is_number_integer() && parsed["since"].get<std::int64_t>() >= 0;
    }
    return true;  // a route added since: only the generic checks apply
}

void CheckAnswer(const Request& request, const Response& response) {
    const std::string where =
        request.target + " -> " + std::to_string(response.status) + " " + response.body;
    const int s = response.status;
    FUZZ_CHECK_WITH(s == 400 || s == 404 || s == 415, where);
    const auto body = json::parse(response.body, nullptr, false);
    FUZZ_CHECK_WITH(body.is_object() && body.contains("error") && body["error"].is_object() &&
                        body["error"].contains("code") && body["error"]["code"].is_string(),
                    where);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Service* const service = new Service;
    const std::string input =
        fuzz::BodyOf(std::string_view(reinterpret_cast<const char*>(data), size));
    fuzz::CheckBodyFingerprint(input);

    bool plain_query = !commons::http::CheckQuery(input).has_value();
    for (char c : input) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') plain_query = false;
    }
    for (const auto& route : service->router.routes()) {
        Request request;
        request.method = route.method;
        request.path = route.path_template;
        const auto open = request.path.find("/{");
        if (open != std::string::npos) {
            request.path.replace(open + 1, request.path.find('}', open) - open, "we_fuzz");
        }
        if (route.method == Method::kGet || route.method == Method::kDelete) {
            if (route.method == Method::kDelete || !plain_query) continue;
            request.query = input;
            request.target = request.path + "?" + input;
        } else {
            request.target = request.path;
            request.body = input;
            request.headers.emplace_back("content-type", "application/json");
            if (route.path_template == "/v1/inbound/stripe") {
                const std::int64_t timestamp = kNow / domain::kMicrosPerSecond;
                request.headers.emplace_back(
                    "stripe-signature",
                    "t=" + std::to_string(timestamp) +
                        ",v1=" + domain::StripeSignatureV1(kStripeSecret, timestamp, input));
            }
        }
        const auto routed = commons::http::internal::RouteRequest(service->router, request);
        FUZZ_CHECK_WITH(routed.matched == &route, request.path);

        try {
            const Response response = route.handler(request);
            CheckAnswer(request, response);
        } catch (const commons::DatabaseUnavailableError&) {
            if (route.method != Method::kGet) {
                FUZZ_CHECK_WITH(MayReachDatabase(route.path_template, route.method, input),
                                request.target + " " + input);
            }
        } catch (const std::exception& error) {
            fuzz::CheckFailed("the handler threw", __FILE__, __LINE__,
                              request.target + ": " + error.what());
        }
    }
    return 0;
}
