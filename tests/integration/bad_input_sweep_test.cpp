// The bad-input sweep: every /v1 route of every service, as a real process, gets requests a
// careless or hostile client sends (NUL, lone surrogates, invalid UTF-8, 2^63, 1e400, 1.5 where
// an integer belongs, 10,000-deep nesting, arrays and bare strings for objects, duplicate keys,
// an empty body, a Content-Type the route does not take, and query values that are not text).
// Every answer must be a 4xx in the error shape, and the service must stay healthy.
//
// The routes come from the service itself (`<service>-service routes`), so a new route joins
// the sweep by construction: one that takes a body and has no example here fails the sweep
// until an example is added.

#include <gtest/gtest.h>

#include <csignal>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "commons/ids.hpp"
#include "support/devstack.hpp"
#include "support/free_port.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/scratch_database.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test_support::ChildProcess;
using test_support::Fetch;

std::string Binary(const std::string& service) {
    return std::string(PAYMENTS_BIN_DIR) + "/" + service + "-service";
}

// A valid body for every route that takes one, keyed "service METHOD /path/template". The sweep
// fills path parameters with ids that do not exist, so these are read but never change anything.
const std::map<std::string, std::string>& ExampleBodies() {
    static const std::map<std::string, std::string> examples = {
        // ledger
        {"ledger POST /v1/currencies", R"({"code":"SWEEP","exponent":2})"},
        {"ledger POST /v1/accounts",
         R"({"id":"sweep_a","currency":"USD","normal_balance":"debit","metadata":{"k":"v"}})"},
        {"ledger POST /v1/accounts/{id}/close", "{}"},
        {"ledger POST /v1/accounts/{id}/reopen", "{}"},
        {"ledger POST /v1/transactions",
         R"({"id":"sweep_t","description":"d","metadata":{"k":"v"},"entries":[{"account_id":"sweep_missing_a","direction":"debit","amount":100,"currency":"USD"},{"account_id":"sweep_missing_b","direction":"credit","amount":100}]})"},
        {"ledger POST /v1/transactions/batch",
         R"({"atomic":true,"transactions":[{"id":"sweep_t","entries":[{"account_id":"sweep_missing_a","direction":"debit","amount":100},{"account_id":"sweep_missing_b","direction":"credit","amount":100}]}]})"},
        {"ledger POST /v1/transactions/{id}/post", R"({"amounts":[1,1]})"},
        {"ledger POST /v1/transactions/{id}/void", "{}"},
        {"ledger POST /v1/transactions/{id}/reverse", R"({"id":"sweep_r","description":"d"})"},
        // webhook
        {"webhook POST /v1/inbound/stripe",
         R"({"id":"evt_sweep","object":"event","type":"charge.succeeded"})"},
        {"webhook POST /v1/endpoints",
         R"({"url":"https://hooks.example.com/sweep","event_types":["orders.*"],"description":"d","enabled":true})"},
        {"webhook PATCH /v1/endpoints/{id}",
         R"({"description":"d","enabled":false,"max_in_flight":5})"},
        {"webhook POST /v1/endpoints/{id}/rotate_secret", "{}"},
        {"webhook POST /v1/endpoints/{id}/recover", "{}"},
        {"webhook POST /v1/events", R"({"type":"orders.order.created","data":{"k":"v"}})"},
        {"webhook POST /v1/deliveries/{id}/retry", "{}"},
    };
    return examples;
}

struct Route {
    std::string method;
    std::string path;
    std::string name;  // "service METHOD path", as in ExampleBodies()
};

// Request bodies that no route may accept. `json_text` is inserted as raw text where a value
// goes, so it can hold what no JSON library would write.
struct BadValue {
    std::string name;
    std::string json_text;
    bool anywhere;  // also nested (else top-level fields only, where no field takes it)
};

const std::vector<BadValue>& BadValues() {
    static const std::vector<BadValue> values = {
        {"nul", R"("a\u0000b")", true},
        {"lone surrogate", R"("\ud800")", true},
        {"invalid utf-8",
         "\"a\xFF\xFE"
         "b\"",
         true},
        {"overlong utf-8", "\"\xC0\xAF\"", true},
        {"1e400", "1e400", true},
        {"2^63", "9223372036854775808", false},
        {"1.5", "1.5", false},
        {"array", "[1,2]", false},
    };
    return values;
}

struct Attempt {
    std::string what;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

// Every leaf and container of `value` replaced, one at a time, by `bad`: the body texts.
void ReplaceEach(json& root, json& value, bool top_level, const BadValue& bad,
                 std::vector<std::pair<std::string, std::string>>& out, const std::string& path) {
    constexpr const char* kMarker = "@@sweep@@";
    if (value.is_object() || value.is_array()) {
        std::vector<std::string> keys;
        if (value.is_object()) {
            for (const auto& item : value.items()) keys.push_back(item.key());
        }
        const std::size_t count = value.size();
        for (std::size_t i = 0; i < count; ++i) {
            json& child = value.is_object() ? value[keys[i]] : value[i];
            const std::string child_path =
                value.is_object() ? path + "." + keys[i] : path + "[" + std::to_string(i) + "]";
            if (top_level || bad.anywhere) {
                json saved = child;
                child = kMarker;
                std::string text = root.dump();
                text.replace(text.find(std::string("\"") + kMarker + "\""),
                             std::string(kMarker).size() + 2, bad.json_text);
                out.emplace_back(child_path, std::move(text));
                child = std::move(saved);
            }
            if (bad.anywhere) ReplaceEach(root, child, false, bad, out, child_path);
        }
    }
}

std::vector<Attempt> AttemptsFor(const Route& route, const std::string& target,
                                 const std::string& key) {
    const std::vector<std::pair<std::string, std::string>> auth = {
        {"Authorization", "Bearer " + key}};
    auto with = [&](std::vector<std::pair<std::string, std::string>> extra) {
        auto headers = auth;
        headers.insert(headers.end(), extra.begin(), extra.end());
        return headers;
    };
    const std::vector<std::pair<std::string, std::string>> json_type = {
        {"Content-Type", "application/json"}};
    std::vector<Attempt> attempts;
    // Query values that are not text, on every route.
    for (const char* query :
         {"limit=%00", "starting_after=%ED%A0%80", "ending_before=%FF", "limit=%zz", "x%00y=1"}) {
        attempts.push_back({std::string("query ") + query, target + "?" + query, auth, ""});
    }
    if (route.method == "GET" || route.method == "DELETE") return attempts;

    const auto example = ExampleBodies().find(route.name);
    if (example == ExampleBodies().end()) return attempts;
    const std::string& valid = example->second;
    json parsed = json::parse(valid);
    const auto add = [&](std::string what, std::string body,
                         std::vector<std::pair<std::string, std::string>> headers) {
        attempts.push_back({std::move(what), target, std::move(headers), std::move(body)});
    };
    add("empty body", "", with(json_type));
    add("array body", "[" + valid + "]", with(json_type));
    add("bare string body", R"("text")", with(json_type));
    add("number body", "42", with(json_type));
    add("10,000-deep nesting", std::string(10'000, '[') + std::string(10'000, ']'),
        with(json_type));
    add(
        "10,000-deep object nesting",
        [] {
            std::string text;
            for (int i = 0; i < 10'000; ++i) text += R"({"a":)";
            text += "1";
            text += std::string(10'000, '}');
            return text;
        }(),
        with(json_type));
    add("invalid utf-8 body", "\xFF\xFE{}", with(json_type));
    add("truncated body", valid.substr(0, valid.size() / 2), with(json_type));
    add("text/plain", valid, with({{"Content-Type", "text/plain"}}));
    add("form", valid, with({{"Content-Type", "application/x-www-form-urlencoded"}}));
    if (parsed.is_object() && !parsed.empty()) {
        const auto first = parsed.begin();
        add("duplicate key " + first.key(),
            "{" + json(first.key()).dump() + ":" + first.value().dump() + "," + valid.substr(1),
            with(json_type));
    }
    for (const auto& bad : BadValues()) {
        std::vector<std::pair<std::string, std::string>> bodies;
        ReplaceEach(parsed, parsed, true, bad, bodies, "");
        for (auto& [path, body] : bodies) add(bad.name + " at " + path, body, with(json_type));
        // A new field holding it too: unknown fields are refused, but the value is read first.
        if (bad.anywhere && parsed.is_object()) {
            add(bad.name + " in a new field",
                "{\"sweep_extra\":" + bad.json_text + "," + valid.substr(1), with(json_type));
        }
    }
    return attempts;
}

std::string FillPath(const std::string& path_template) {
    std::string out;
    std::size_t at = 0;
    while (at < path_template.size()) {
        const auto open = path_template.find('{', at);
        if (open == std::string::npos) {
            out += path_template.substr(at);
            break;
        }
        out += path_template.substr(at, open - at);
        out += "sweep_missing_1";
        at = path_template.find('}', open) + 1;
    }
    return out;
}

// The error shape of DESIGN.md: {"error": {"type", "code", "message", ...}}.
bool HasErrorShape(const std::string& body) {
    auto parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("error")) return false;
    const auto& error = parsed["error"];
    return error.is_object() && error.contains("type") && error["type"].is_string() &&
           error.contains("code") && error["code"].is_string() && error.contains("message") &&
           error["message"].is_string();
}

bool Healthy(std::uint16_t port) {
    try {
        return Fetch(port, "GET", "/health").status == 200;
    } catch (const std::runtime_error&) {
        return false;
    }
}

class BadInputSweep : public ::testing::TestWithParam<std::string> {};

TEST_P(BadInputSweep, EveryRouteAnswersBadInputWithA4xxAndStaysHealthy) {
    const std::string service = GetParam();
    test_support::ScratchDatabase database("sweep_" + service);
    const auto port = test_support::FreePort();
    std::map<std::string, std::string> env{
        {"PATH", "/usr/bin:/bin"},
        {"PAYMENTS_DATABASE_URL", database.url()},
        {"PAYMENTS_REDIS_URL", test_support::RedisUrl()},
        {"PAYMENTS_SECRETS_DIR", test_support::DevstackVariable("PAYMENTS_SECRETS_DIR")},
        {"PORT", std::to_string(port)},
        {"PAYMENTS_HTTP_ADDRESS", "127.0.0.1"},
        {"PAYMENTS_RATE_LIMIT_PER_SECOND", "0"},
        {"PAYMENTS_LOG_LEVEL", "warn"},
        {"PAYMENTS_STRIPE_WEBHOOK_SECRETS", "whsec_sweep"},
        {"PAYMENTS_EVENTS_STREAM", "sweep.events." + commons::RandomHex(6)},
    };
    ChildProcess migrate(Binary(service), {"migrate"}, env);
    ASSERT_EQ(migrate.WaitForExit(60s), 0) << migrate.Output();

    ChildProcess listing(Binary(service), {"routes"}, env);
    ASSERT_EQ(listing.WaitForExit(60s), 0) << listing.Output();
    std::vector<Route> routes;
    std::istringstream lines(listing.Output());
    for (std::string line; std::getline(lines, line);) {
        auto parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (parsed.is_discarded() || !parsed.contains("method") || !parsed.contains("path")) {
            continue;  // a log line
        }
        const std::string path = parsed["path"];
        if (path.rfind("/v1/", 0) == 0) {
            const std::string method = parsed["method"];
            routes.push_back({method, path, service + " " + method + " " + path});
        }
    }
    // The operational routes are always there; the route table must have been printed.
    ASSERT_FALSE(listing.Output().find("\"/health\"") == std::string::npos) << listing.Output();

    ChildProcess server(Binary(service), {"serve"}, env);
    ASSERT_TRUE(test_support::PollUntil(30s, [&] {
        return Healthy(port) || server.WaitForExit(0ms);
    })) << server.Output();

    const std::string key = test_support::DevstackVariable("PAYMENTS_DEV_API_KEY");
    std::size_t sent = 0;
    for (const auto& route : routes) {
        const bool takes_body =
            route.method == "POST" || route.method == "PUT" || route.method == "PATCH";
        if (takes_body) {
            EXPECT_TRUE(ExampleBodies().count(route.name))
                << route.method << " " << route.path
                << " takes a body but has no example in the bad-input sweep: add one to "
                   "ExampleBodies()";
        }
        const std::string target = FillPath(route.path);
        for (const auto& attempt : AttemptsFor(route, target, key)) {
            ++sent;
            test_support::HttpReply reply;
            try {
                reply = Fetch(port, route.method, attempt.target, attempt.headers, attempt.body);
            } catch (const std::exception& error) {
                ADD_FAILURE() << route.method << " " << route.path << " (" << attempt.what
                              << "): no answer: " << error.what() << "\n"
                              << server.Output();
                continue;
            }
            EXPECT_GE(reply.status, 400)
                << route.method << " " << route.path << " (" << attempt.what << ") accepted "
                << attempt.body.substr(0, 200) << ": " << reply.body;
            EXPECT_LT(reply.status, 500)
                << route.method << " " << route.path << " (" << attempt.what << ") "
                << attempt.body.substr(0, 200) << ": " << reply.status << " " << reply.body;
            EXPECT_TRUE(HasErrorShape(reply.body))
                << route.method << " " << route.path << " (" << attempt.what
                << "): not the error shape: " << reply.body;
        }
        ASSERT_TRUE(Healthy(port)) << "after " << route.method << " " << route.path << "\n"
                                   << server.Output();
    }
    // No example names a route that is gone.
    std::set<std::string> served;
    for (const auto& route : routes) served.insert(route.name);
    for (const auto& [name, body] : ExampleBodies()) {
        if (name.rfind(service + " ", 0) == 0) {
            EXPECT_TRUE(served.count(name)) << name;
        }
    }
    EXPECT_EQ(Fetch(port, "GET", "/ready").status, 200);
    server.Signal(SIGTERM);
    EXPECT_EQ(server.WaitForExit(30s), 0) << server.Output();
    std::cout << service << ": " << routes.size() << " /v1 routes, " << sent
              << " bad requests sent\n";
}

INSTANTIATE_TEST_SUITE_P(AllServices, BadInputSweep,
                         ::testing::Values("ledger", "payin", "payout", "webhook"),
                         [](const auto& info) { return info.param; });

}  // namespace
