#include "webhook/api/routes.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "commons/crypto.hpp"
#include "commons/events.hpp"
#include "commons/http/client.hpp"
#include "commons/http/router.hpp"
#include "commons/ids.hpp"
#include "commons/json_input.hpp"
#include "commons/secrets.hpp"
#include "commons/text.hpp"
#include "webhook/app/delivery_engine.hpp"
#include "webhook/app/intake.hpp"
#include "webhook/domain/signatures.hpp"
#include "webhook/store/webhook_store.hpp"

namespace webhook::api {

namespace {

using commons::http::Method;
using commons::http::Request;
using commons::http::Response;
using commons::http::RouteOptions;
using domain::Micros;
using nlohmann::json;

constexpr const char* kScope = "webhook:admin";
constexpr std::size_t kUrlBytesMax = 2048;
constexpr std::size_t kDescriptionBytesMax = 1000;
constexpr std::int64_t kRateLimitMax = 100'000;
constexpr std::int64_t kInFlightMax = 1000;
constexpr std::size_t kPageLimitMax = 100;
constexpr std::size_t kDeliveryAttemptsShown = 50;
constexpr std::size_t kSecretBytes = 32;
constexpr std::size_t kInboundIdBytesMax = 255;

struct InputError {
    int status;
    std::string code;
    std::string message;
    std::string param;
};

[[noreturn]] void Bad(std::string code, std::string message, std::string param = {}) {
    throw InputError{400, std::move(code), std::move(message), std::move(param)};
}

Response ErrorResponse(int status, std::string_view type, std::string_view code,
                       const std::string& message, const std::string& param = {}) {
    json error{{"type", type}, {"code", code}, {"message", message}};
    if (!param.empty()) error["param"] = param;
    return Response::Json(status, json{{"error", std::move(error)}}.dump());
}

// Deliveries created before this are left to the purge (ApiDependencies::retention_us).
Micros RetainedSince(const ApiDependencies& d, Micros now) {
    if (d.retention_us <= 0) return std::numeric_limits<Micros>::min();
    return now - d.retention_us + 3600 * domain::kMicrosPerSecond;
}

Response NotFound(const std::string& what) {
    return ErrorResponse(404, "invalid_request_error", "resource_missing", "no such " + what);
}

// Runs a handler, turning an InputError into its 4xx answer.
template <typename Body>
Response Guard(Body&& body) {
    try {
        return body();
    } catch (const InputError& error) {
        return ErrorResponse(error.status, "invalid_request_error", error.code, error.message,
                             error.param);
    }
}

json ParseBody(const Request& request) {
    if (!commons::TakesJsonContentType(request.Header("content-type"))) {
        throw InputError{415, "unsupported_media_type", "send the body as application/json", ""};
    }
    auto parsed = commons::ParseJsonInput(request.body);
    if (auto* problem = std::get_if<commons::JsonInputProblem>(&parsed)) {
        Bad(problem->code, problem->message, problem->param);
    }
    json body = std::move(std::get<json>(parsed));
    if (!body.is_object()) Bad("invalid_json", "the request body must be a JSON object");
    return body;
}

void RejectUnknown(const json& object, std::initializer_list<std::string_view> known) {
    for (const auto& item : object.items()) {
        if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
            Bad("parameter_unknown", "unknown parameter " + item.key(), item.key());
        }
    }
}

json OptionalSeconds(const std::optional<Micros>& micros) {
    if (!micros) return nullptr;
    return *micros / domain::kMicrosPerSecond;
}

std::size_t PageLimit(const Request& request) {
    auto text = request.QueryParam("limit");
    if (!text) return 10;
    std::size_t value = 0;
    if (text->empty() || text->size() > 3 ||
        !std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; })) {
        Bad("parameter_invalid", "limit must be an integer from 1 to 100", "limit");
    }
    value = std::stoul(*text);
    if (value < 1 || value > kPageLimitMax) {
        Bad("parameter_invalid", "limit must be an integer from 1 to 100", "limit");
    }
    return value;
}

// ---- Endpoint fields ----

std::string UrlField(const json& value, const ApiDependencies& deps) {
    if (!value.is_string()) Bad("parameter_invalid", "url must be a string", "url");
    const auto& url = value.get_ref<const std::string&>();
    if (url.size() > kUrlBytesMax) Bad("url_invalid", "url is longer than 2048 bytes", "url");
    auto parsed = commons::http::ParseUrl(url);
    if (!parsed) Bad("url_invalid", "url must be an absolute http(s) URL", "url");
    if (!parsed->tls && !deps.allow_http) {
        Bad("url_invalid", "url must use https", "url");
    }
    if (!deps.allow_private_targets) {
        // Names are checked after resolution on every attempt; a literal address is refused now.
        auto address_class = commons::http::ClassifyAddress(parsed->host);
        if (parsed->host == "localhost" ||
            (address_class && !commons::http::AddressAllowed(
                                  commons::http::AddressPolicy::kPublicOnly, *address_class))) {
            Bad("url_forbidden",
                "url must not name a private, loopback, link-local or multicast address", "url");
        }
    }
    return url;
}

std::vector<std::string> EventTypesField(const json& value) {
    if (!value.is_array() || value.empty() || value.size() > domain::kEventTypePatternsMax) {
        Bad("parameter_invalid", "event_types must be an array of 1 to 100 event types",
            "event_types");
    }
    std::vector<std::string> types;
    std::set<std::string> seen;
    for (const auto& item : value) {
        if (!item.is_string() ||
            !domain::IsValidEventTypePattern(item.get_ref<const std::string&>())) {
            Bad("event_type_invalid",
                "each event type is like \"ledger.transaction.posted\", \"payin.*\" or \"*\"",
                "event_types");
        }
        if (seen.insert(item.get<std::string>()).second) types.push_back(item.get<std::string>());
    }
    return types;
}

std::string DescriptionField(const json& value) {
    if (!value.is_string()) Bad("parameter_invalid", "description must be a string", "description");
    if (value.get_ref<const std::string&>().size() > kDescriptionBytesMax) {
        Bad("parameter_invalid", "description is longer than 1000 bytes", "description");
    }
    return value.get<std::string>();
}

bool BoolField(const json& value, const char* name) {
    if (!value.is_boolean())
        Bad("parameter_invalid", std::string(name) + " must be a boolean", name);
    return value.get<bool>();
}

// null removes the limit.
std::optional<std::int32_t> LimitField(const json& value, const char* name, std::int64_t max) {
    if (value.is_null()) return std::nullopt;
    if (!value.is_number_integer() || value.get<std::int64_t>() < 1 ||
        value.get<std::int64_t>() > max) {
        Bad("parameter_invalid",
            std::string(name) + " must be null or an integer from 1 to " + std::to_string(max),
            name);
    }
    return static_cast<std::int32_t>(value.get<std::int64_t>());
}

json OptionalInt(const std::optional<std::int32_t>& value) {
    if (!value) return nullptr;
    return *value;
}

json RenderEndpoint(const store::EndpointRecord& e) {
    return {
        {"id", e.id},
        {"object", "webhook_endpoint"},
        {"url", e.url},
        {"description", e.description},
        {"event_types", e.event_types},
        {"enabled", e.enabled},
        {"disabled_reason", e.disabled_reason.empty() ? json(nullptr) : json(e.disabled_reason)},
        {"rate_limit_per_second", OptionalInt(e.rate_limit_per_second)},
        {"max_in_flight", OptionalInt(e.max_in_flight)},
        {"ordered", e.ordered},
        {"health",
         {{"consecutive_failures", e.health.consecutive_failures},
          {"failing_since", OptionalSeconds(e.health.failing_since)},
          {"circuit_open_until", OptionalSeconds(e.health.circuit_open_until)}}},
        {"created", e.created_us / domain::kMicrosPerSecond},
        {"updated", e.updated_us / domain::kMicrosPerSecond}};
}

json RenderSecrets(const std::vector<store::EndpointSecret>& secrets) {
    json list = json::array();
    for (const auto& s : secrets) {
        list.push_back({{"secret", s.secret},
                        {"created", s.created_us / domain::kMicrosPerSecond},
                        {"expires", OptionalSeconds(s.expires_us)}});
    }
    return list;
}

json RenderAttempt(const store::AttemptRecord& a) {
    return {{"id", "att_" + std::to_string(a.id)},
            {"object", "webhook_attempt"},
            {"delivery_id", a.delivery_id},
            {"endpoint_id", a.endpoint_id},
            {"created", a.attempted_us / domain::kMicrosPerSecond},
            {"created_ms", a.attempted_us / 1000},
            {"status_code", OptionalInt(a.status_code)},
            {"latency_ms", static_cast<double>(a.latency_us) / 1000.0},
            {"error", a.error.empty() ? json(nullptr) : json(a.error)},
            {"response_body", a.response_body}};
}

json RenderDelivery(const store::DeliveryRecord& d, const std::vector<store::AttemptRecord>& log) {
    json attempts = json::array();
    for (const auto& a : log) attempts.push_back(RenderAttempt(a));
    return {{"id", d.id},
            {"object", "webhook_delivery"},
            {"event_id", d.event_id},
            {"event_type", d.event_type},
            {"endpoint_id", d.endpoint_id},
            {"status", d.status},
            {"attempts", d.attempts},
            {"next_attempt", OptionalSeconds(d.next_attempt_us)},
            {"last_status_code", OptionalInt(d.last_status_code)},
            {"last_error", d.last_error.empty() ? json(nullptr) : json(d.last_error)},
            {"created", d.created_us / domain::kMicrosPerSecond},
            {"completed", OptionalSeconds(d.completed_us)},
            {"attempt_log", std::move(attempts)}};
}

// A Stripe-style list: {"object": "list", "data": [...], "has_more": bool}.
template <typename T, typename Render>
Response ListResponse(const store::Page<T>& page, Render render) {
    json data = json::array();
    for (const auto& item : page.items) data.push_back(render(item));
    return Response::Json(
        200,
        json{{"object", "list"}, {"data", std::move(data)}, {"has_more", page.has_more}}.dump());
}

std::string NewSecret() {
    // RandomHex draws from OpenSSL's CSPRNG; the hex is turned back into the raw bytes.
    const std::string hex = commons::RandomHex(kSecretBytes);
    std::string bytes;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    return domain::EncodeWebhookSecret(bytes);
}

// ---- Handlers ----

Response CreateEndpoint(const ApiDependencies& deps, Request& request) {
    return Guard([&] {
        json body = ParseBody(request);
        RejectUnknown(body, {"url", "event_types", "description", "enabled",
                             "rate_limit_per_second", "max_in_flight", "ordered"});
        store::NewEndpoint endpoint;
        if (!body.contains("url")) Bad("parameter_missing", "url is required", "url");
        endpoint.url = UrlField(body["url"], deps);
        if (!body.contains("event_types")) {
            Bad("parameter_missing", "event_types is required", "event_types");
        }
        endpoint.event_types = EventTypesField(body["event_types"]);
        if (body.contains("description"))
            endpoint.description = DescriptionField(body["description"]);
        if (body.contains("enabled")) endpoint.enabled = BoolField(body["enabled"], "enabled");
        if (body.contains("ordered")) endpoint.ordered = BoolField(body["ordered"], "ordered");
        if (body.contains("rate_limit_per_second")) {
            endpoint.rate_limit_per_second =
                LimitField(body["rate_limit_per_second"], "rate_limit_per_second", kRateLimitMax);
        }
        if (body.contains("max_in_flight")) {
            endpoint.max_in_flight =
                LimitField(body["max_in_flight"], "max_in_flight", kInFlightMax);
        }
        const std::string secret = NewSecret();
        auto created = deps.store.CreateEndpoint(endpoint, secret, deps.clock());
        json out = RenderEndpoint(created);
        out["secret"] = secret;
        return Response::Json(201, out.dump());
    });
}

Response UpdateEndpoint(const ApiDependencies& deps, Request& request) {
    return Guard([&] {
        json body = ParseBody(request);
        RejectUnknown(body, {"url", "event_types", "description", "enabled",
                             "rate_limit_per_second", "max_in_flight", "ordered"});
        store::EndpointPatch patch;
        if (body.contains("url")) patch.url = UrlField(body["url"], deps);
        if (body.contains("event_types")) patch.event_types = EventTypesField(body["event_types"]);
        if (body.contains("description")) patch.description = DescriptionField(body["description"]);
        if (body.contains("enabled")) patch.enabled = BoolField(body["enabled"], "enabled");
        if (body.contains("ordered")) patch.ordered = BoolField(body["ordered"], "ordered");
        if (body.contains("rate_limit_per_second")) {
            patch.rate_limit_per_second =
                LimitField(body["rate_limit_per_second"], "rate_limit_per_second", kRateLimitMax);
        }
        if (body.contains("max_in_flight")) {
            patch.max_in_flight = LimitField(body["max_in_flight"], "max_in_flight", kInFlightMax);
        }
        auto updated = deps.store.UpdateEndpoint(request.PathParam("id"), patch, deps.clock());
        if (!updated) return NotFound("endpoint");
        if (updated->enabled) deps.engine.Wake();
        return Response::Json(200, RenderEndpoint(*updated).dump());
    });
}

Response PublishEvent(const ApiDependencies& deps, Request& request) {
    return Guard([&] {
        json body = ParseBody(request);
        RejectUnknown(body, {"type", "data"});
        if (!body.contains("type") || !body["type"].is_string()) {
            Bad("parameter_missing", "type is required (a string)", "type");
        }
        const std::string type = body["type"].get<std::string>();
        if (!domain::IsValidEventType(type)) {
            Bad("event_type_invalid",
                "type is dot-separated lower-case segments, like \"orders.order.shipped\"", "type");
        }
        if (!body.contains("data") || !body["data"].is_object()) {
            Bad("parameter_missing", "data is required (a JSON object)", "data");
        }
        commons::Event event;
        event.id = deps.ids.Next("evt");
        event.type = type;
        event.source = type.substr(0, type.find('.'));
        const Micros now = deps.clock();
        event.created = now / domain::kMicrosPerSecond;
        event.data_json = body["data"].dump();
        if (event.data_json.size() > commons::kEventDataBytesMax) {
            Bad("parameter_invalid", "data is larger than 256 KB", "data");
        }
        const std::size_t deliveries = app::StoreEvents(
            deps.store, deps.engine,
            {{event.id, event.type, event.source, event.created, commons::FormatEnvelope(event)}},
            now);
        return Response::Json(201, json{{"id", event.id},
                                        {"object", "event"},
                                        {"type", event.type},
                                        {"created", event.created},
                                        {"deliveries", deliveries}}
                                       .dump());
    });
}

Response ReceiveStripe(const ApiDependencies& deps, Request& request) {
    const std::vector<std::string> secrets = StripeWebhookSecrets(deps.secrets);
    if (secrets.empty()) {
        return ErrorResponse(503, "api_error", "webhook_secret_not_configured",
                             "no Stripe webhook secret is configured (stripe-webhook-secrets)");
    }
    const std::string header{request.Header("stripe-signature").value_or("")};
    const Micros now = deps.clock();
    if (auto refused = domain::VerifyStripeSignature(header, request.body, secrets,
                                                     now / domain::kMicrosPerSecond,
                                                     deps.stripe_tolerance_seconds)) {
        return ErrorResponse(400, "invalid_request_error",
                             domain::StripeSignatureErrorCode(*refused),
                             std::string(domain::StripeSignatureErrorMessage(*refused)));
    }
    auto body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object() || !body.contains("id") ||
        !body["id"].is_string() || !body.contains("type") || !body["type"].is_string()) {
        return ErrorResponse(400, "invalid_request_error", "event_invalid",
                             "the body must be a Stripe event: a JSON object with id and type");
    }

    const auto& id = body["id"].get_ref<const std::string&>();
    const auto& type = body["type"].get_ref<const std::string&>();
    // The body is stored as received (text, where "\u0000" is six plain characters); the id and
    // type are stored as values of their own, so they must be storable text.
    if (id.rfind("evt_", 0) != 0 || id.size() > kInboundIdBytesMax || type.empty() ||
        type.size() > kInboundIdBytesMax || !commons::IsStorableText(id) ||
        !commons::IsStorableText(type)) {
        return ErrorResponse(400, "invalid_request_error", "event_invalid",
                             "the event id must start with evt_ and id and type be at most 255 "
                             "bytes");
    }
    const bool inserted = deps.store.InsertInbound(id, type, request.body, now);
    if (inserted) deps.inbound.Wake();
    return Response::Json(200, json{{"received", true}, {"duplicate", !inserted}}.dump());
}

}  // namespace

std::vector<std::string> ParseSecretList(std::string_view text) {
    std::vector<std::string> secrets;
    std::size_t at = 0;
    while (at <= text.size()) {
        std::size_t end = text.find_first_of(",\n", at);
        if (end == std::string_view::npos) end = text.size();
        std::string_view piece = text.substr(at, end - at);
        while (!piece.empty() && (piece.front() == ' ' || piece.front() == '\t'))
            piece.remove_prefix(1);
        while (!piece.empty() &&
               (piece.back() == ' ' || piece.back() == '\t' || piece.back() == '\r')) {
            piece.remove_suffix(1);
        }
        if (!piece.empty() && piece.front() != '#') secrets.emplace_back(piece);
        at = end + 1;
    }
    return secrets;
}

std::vector<std::string> StripeWebhookSecrets(const commons::SecretStore& secrets) {
    auto secret = secrets.Find("stripe-webhook-secrets");
    if (!secret) return {};
    return ParseSecretList(secret->Reveal());
}

void AddRoutes(const ApiDependencies& deps, commons::http::Router& router) {
    const RouteOptions admin{.scope = kScope};
    // Bound by reference: `deps` is copied into each closure's captured struct.
    auto d = std::make_shared<const ApiDependencies>(deps);

    router.Add(Method::kPost, "/v1/inbound/stripe",
               [d](Request& request) { return ReceiveStripe(*d, request); });
    router.Add(
        Method::kGet, "/v1/inbound_events/{id}",
        [d](Request& request) {
            bool processed = false;
            std::string handler;
            auto event = d->store.FindInbound(request.PathParam("id"), &processed, &handler);
            if (!event) return NotFound("inbound event");
            return Response::Json(200,
                                  json{{"id", event->id},
                                       {"object", "inbound_event"},
                                       {"type", event->type},
                                       {"processed", processed},
                                       {"handler", handler.empty() ? json(nullptr) : json(handler)},
                                       {"attempts", event->attempts}}
                                      .dump());
        },
        admin);

    router.Add(
        Method::kPost, "/v1/endpoints",
        [d](Request& request) { return CreateEndpoint(*d, request); }, admin);
    router.Add(
        Method::kGet, "/v1/endpoints",
        [d](Request& request) {
            return Guard([&] {
                const std::size_t limit = PageLimit(request);
                auto page = d->store.ListEndpoints(
                    limit, request.QueryParam("starting_after").value_or(""));
                return ListResponse(page, RenderEndpoint);
            });
        },
        admin);
    router.Add(
        Method::kGet, "/v1/endpoints/{id}",
        [d](Request& request) {
            auto endpoint = d->store.FindEndpoint(request.PathParam("id"));
            if (!endpoint) return NotFound("endpoint");
            return Response::Json(200, RenderEndpoint(*endpoint).dump());
        },
        admin);
    router.Add(
        Method::kPatch, "/v1/endpoints/{id}",
        [d](Request& request) { return UpdateEndpoint(*d, request); }, admin);
    router.Add(
        Method::kDelete, "/v1/endpoints/{id}",
        [d](Request& request) {
            const std::string& id = request.PathParam("id");
            if (!d->store.DeleteEndpoint(id, d->clock())) return NotFound("endpoint");
            return Response::Json(
                200, json{{"id", id}, {"object", "webhook_endpoint"}, {"deleted", true}}.dump());
        },
        admin);
    router.Add(
        Method::kGet, "/v1/endpoints/{id}/secret",
        [d](Request& request) {
            auto secrets = d->store.Secrets(request.PathParam("id"), d->clock());
            if (!secrets) return NotFound("endpoint");
            return Response::Json(
                200, json{{"secret", secrets->front().secret}, {"secrets", RenderSecrets(*secrets)}}
                         .dump());
        },
        admin);
    router.Add(
        Method::kPost, "/v1/endpoints/{id}/rotate_secret",
        [d](Request& request) {
            const std::string secret = NewSecret();
            auto secrets = d->store.RotateSecret(request.PathParam("id"), secret, d->clock(),
                                                 d->secret_overlap_us);
            if (!secrets) return NotFound("endpoint");
            return Response::Json(
                200, json{{"secret", secret}, {"secrets", RenderSecrets(*secrets)}}.dump());
        },
        admin);
    router.Add(
        Method::kGet, "/v1/endpoints/{id}/attempts",
        [d](Request& request) {
            return Guard([&] {
                const std::size_t limit = PageLimit(request);
                std::int64_t after = 0;
                if (auto cursor = request.QueryParam("starting_after")) {
                    const std::string digits =
                        cursor->rfind("att_", 0) == 0 ? cursor->substr(4) : "";
                    if (digits.empty() || digits.size() > 18 ||
                        !std::all_of(digits.begin(), digits.end(),
                                     [](char c) { return c >= '0' && c <= '9'; })) {
                        Bad("parameter_invalid", "starting_after must be an attempt id",
                            "starting_after");
                    }
                    after = std::stoll(digits);
                }
                const std::string& id = request.PathParam("id");
                if (!d->store.FindEndpoint(id)) return NotFound("endpoint");
                auto page = d->store.EndpointAttempts(id, limit, after);
                return ListResponse(page, RenderAttempt);
            });
        },
        admin);
    router.Add(
        Method::kPost, "/v1/endpoints/{id}/recover",
        [d](Request& request) {
            return Guard([&] {
                json body = ParseBody(request);
                RejectUnknown(body, {"since"});
                if (!body.contains("since") || !body["since"].is_number_integer() ||
                    body["since"].get<std::int64_t>() < 0 ||
                    body["since"].get<std::int64_t>() >
                        std::numeric_limits<std::int64_t>::max() / domain::kMicrosPerSecond) {
                    Bad("parameter_invalid", "since must be a Unix time in seconds", "since");
                }
                const Micros now = d->clock();
                // Only what the purge will not take meanwhile.
                const Micros since =
                    std::max(body["since"].get<std::int64_t>() * domain::kMicrosPerSecond,
                             RetainedSince(*d, now));
                auto count = d->store.Recover(request.PathParam("id"), since, now);
                if (!count) return NotFound("endpoint");
                if (*count > 0) d->engine.Wake();
                return Response::Json(202,
                                      json{{"object", "recovery"}, {"deliveries", *count}}.dump());
            });
        },
        admin);
    router.Add(
        Method::kPost, "/v1/events", [d](Request& request) { return PublishEvent(*d, request); },
        admin);
    router.Add(
        Method::kGet, "/v1/deliveries/{id}",
        [d](Request& request) {
            std::vector<store::AttemptRecord> attempts;
            auto delivery =
                d->store.FindDelivery(request.PathParam("id"), &attempts, kDeliveryAttemptsShown);
            if (!delivery) return NotFound("delivery");
            return Response::Json(200, RenderDelivery(*delivery, attempts).dump());
        },
        admin);
    router.Add(
        Method::kPost, "/v1/deliveries/{id}/retry",
        [d](Request& request) {
            const Micros now = d->clock();
            const Micros retained_since = RetainedSince(*d, now);
            auto existing = d->store.FindDelivery(request.PathParam("id"));
            if (!existing) return NotFound("delivery");
            if (existing->created_us < retained_since) {
                return ErrorResponse(409, "invalid_request_error", "delivery_expired",
                                     "the delivery is older than the retention period and is "
                                     "being removed; it cannot be retried");
            }
            auto delivery = d->store.RetryDelivery(request.PathParam("id"), now, retained_since);
            if (!delivery) return NotFound("delivery");
            d->engine.Wake();
            return Response::Json(202, RenderDelivery(*delivery, {}).dump());
        },
        admin);
}

}  // namespace webhook::api
