// The webhook service's API and delivery engine against the devstack PostgreSQL and Redis, with
// a local receiver and an injected clock.
#include <set>

#include "commons/text.hpp"
#include "webhook/tests/webhook_fixture.hpp"

namespace webhook::testing {
namespace {

using commons::http::Response;

std::string StripeHeader(const std::string& secret, std::int64_t t, const std::string& body) {
    return "t=" + std::to_string(t) + ",v1=" + domain::StripeSignatureV1(secret, t, body);
}

bool Verifies(const test_support::WebhookReceiver::Received& r, const std::string& secret,
              std::int64_t now_unix) {
    auto key = domain::DecodeWebhookSecret(secret);
    return key && domain::VerifyStandardWebhook(*key, r.webhook_id, r.timestamp, r.signature,
                                                r.body, now_unix, 300);
}

// ---- Endpoints ----

TEST_F(WebhookFixture, EndpointsAreCreatedReadListedUpdatedAndDeleted) {
    auto created = Endpoint("a", {"payin.*", "ledger.transaction.posted"},
                            {{"description", "orders"}, {"rate_limit_per_second", 50}});
    const std::string id = created["id"];
    EXPECT_EQ(id.rfind("we_", 0), 0u);
    EXPECT_EQ(created["object"], "webhook_endpoint");
    EXPECT_EQ(created["event_types"], json({"payin.*", "ledger.transaction.posted"}));
    EXPECT_EQ(created["rate_limit_per_second"], 50);
    EXPECT_TRUE(created["max_in_flight"].is_null());
    EXPECT_TRUE(created["enabled"]);
    // A fresh 32-byte key, per the Standard Webhooks secret format.
    auto key = domain::DecodeWebhookSecret(created["secret"].get<std::string>());
    ASSERT_TRUE(key);
    EXPECT_EQ(key->size(), 32u);

    auto read = Ok("GET", "/v1/endpoints/" + id);
    EXPECT_EQ(read["description"], "orders");
    EXPECT_FALSE(read.contains("secret"));
    EXPECT_EQ(Ok("GET", "/v1/endpoints/" + id + "/secret")["secret"], created["secret"]);

    Endpoint("b");
    auto first = Ok("GET", "/v1/endpoints?limit=1");
    ASSERT_EQ(first["data"].size(), 1u);
    EXPECT_TRUE(first["has_more"]);
    auto second = Ok(
        "GET", "/v1/endpoints?limit=1&starting_after=" + first["data"][0]["id"].get<std::string>());
    ASSERT_EQ(second["data"].size(), 1u);
    EXPECT_EQ(second["data"][0]["id"], id);  // newest first
    EXPECT_FALSE(second["has_more"]);

    auto patched = Ok("PATCH", "/v1/endpoints/" + id,
                      {{"description", "all orders"},
                       {"rate_limit_per_second", nullptr},
                       {"ordered", true},
                       {"enabled", false}});
    EXPECT_EQ(patched["description"], "all orders");
    EXPECT_TRUE(patched["rate_limit_per_second"].is_null());
    EXPECT_TRUE(patched["ordered"]);
    EXPECT_FALSE(patched["enabled"]);
    EXPECT_EQ(patched["disabled_reason"], "manual");
    EXPECT_EQ(patched["event_types"], created["event_types"]);  // untouched

    EXPECT_TRUE(Ok("DELETE", "/v1/endpoints/" + id)["deleted"]);
    EXPECT_EQ(Call("GET", "/v1/endpoints/" + id).status, 404);
    EXPECT_EQ(Call("DELETE", "/v1/endpoints/" + id).status, 404);
}

TEST_F(WebhookFixture, BadEndpointInputIsRefusedWithTheErrorShapeAndNothingStored) {
    struct Case {
        json body;
        std::string code;
    };
    const std::vector<Case> cases = {
        {{{"event_types", {"*"}}}, "parameter_missing"},
        {{{"url", receiver_.Url("x")}}, "parameter_missing"},
        {{{"url", "not a url"}, {"event_types", {"*"}}}, "url_invalid"},
        {{{"url", "ftp://example.com/x"}, {"event_types", {"*"}}}, "url_invalid"},
        {{{"url", receiver_.Url("x")}, {"event_types", json::array()}}, "parameter_invalid"},
        {{{"url", receiver_.Url("x")}, {"event_types", {"Payin.*"}}}, "event_type_invalid"},
        {{{"url", receiver_.Url("x")}, {"event_types", {"*"}}, {"max_in_flight", 0}},
         "parameter_invalid"},
        {{{"url", receiver_.Url("x")}, {"event_types", {"*"}}, {"rate_limit_per_second", 1.5}},
         "parameter_invalid"},
        {{{"url", receiver_.Url("x")}, {"event_types", {"*"}}, {"colour", "red"}},
         "parameter_unknown"},
    };
    for (const auto& c : cases) {
        auto reply = Call("POST", "/v1/endpoints", c.body.dump());
        EXPECT_EQ(reply.status, 400) << c.body.dump();
        EXPECT_EQ(ErrorCode(reply), c.code) << c.body.dump() << " " << reply.body;
    }
    EXPECT_EQ(ErrorCode(Call("POST", "/v1/endpoints", "{not json")), "invalid_json");
    EXPECT_EQ(Call("POST", "/v1/endpoints", R"({"url":"x","event_types":["*"]})", nullptr).status,
              401);
    EXPECT_EQ(Call("POST", "/v1/endpoints", R"({"url":"x","event_types":["*"]})", kOtherKey).status,
              403);
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".endpoints"), 0);
}

TEST_F(WebhookFixture, PrivateAndPlainHttpTargetsAreRefusedUnlessAllowed) {
    commons::http::Router strict;
    api::AddRoutes({.store = *store_,
                    .engine = *engine_,
                    .inbound = *inbound_,
                    .secrets = secrets_,
                    .ids = ids_,
                    .clock = Clock()},
                   strict);
    auto create = [&](const std::string& url) {
        commons::http::Request request;
        request.method = commons::http::Method::kPost;
        request.path = "/v1/endpoints";
        request.body = json{{"url", url}, {"event_types", {"*"}}}.dump();
        auto match = strict.Find(request.method, request.path);
        return match.route->handler(request);
    };
    for (const std::string url :
         {"https://127.0.0.1/x", "https://10.1.2.3/x", "https://169.254.169.254/latest",
          "https://[::1]/x", "https://localhost/x", "https://224.0.0.1/x"}) {
        auto response = create(url);
        EXPECT_EQ(response.status, 400) << url;
        EXPECT_NE(response.body.find("url_forbidden"), std::string::npos) << url << response.body;
    }
    auto plain = create("http://hooks.example.com/x");
    EXPECT_EQ(plain.status, 400);
    EXPECT_NE(plain.body.find("must use https"), std::string::npos) << plain.body;
    EXPECT_EQ(create("https://hooks.example.com/x").status, 201);
}

// ---- Delivery ----

TEST_F(WebhookFixture, PublishedEventReachesEveryMatchingEndpointSignedPerStandardWebhooks) {
    auto orders = Endpoint("orders", {"orders.*"});
    auto exact = Endpoint("exact", {"orders.order.created"});
    auto other = Endpoint("other", {"ledger.*"});
    auto event = Publish("orders.order.created", {{"order", "o_1"}, {"amount", 1250}});
    EXPECT_EQ(event["deliveries"], 2);
    ASSERT_TRUE(WaitFor(
        10s, [&] { return receiver_.Count("orders") == 1 && receiver_.Count("exact") == 1; }));
    const auto received = receiver_.At("orders")[0];
    EXPECT_EQ(received.webhook_id, event["id"]);
    const std::int64_t now = Now() / domain::kMicrosPerSecond;
    EXPECT_TRUE(Verifies(received, orders["secret"], now));
    EXPECT_FALSE(Verifies(received, exact["secret"], now));  // each endpoint its own key
    EXPECT_TRUE(Verifies(receiver_.At("exact")[0], exact["secret"], now));
    auto envelope = json::parse(received.body);
    EXPECT_EQ(envelope["id"], event["id"]);
    EXPECT_EQ(envelope["type"], "orders.order.created");
    EXPECT_EQ(envelope["source"], "orders");
    EXPECT_EQ(envelope["data"]["amount"], 1250);
    EXPECT_EQ(receiver_.Count("other"), 0u);

    json delivery;
    ASSERT_TRUE(WaitFor(10s, [&] {
        delivery = Delivery(event["id"], orders["id"]);
        return delivery["status"] == "succeeded";
    })) << delivery.dump();
    EXPECT_EQ(delivery["attempts"], 1);
    ASSERT_EQ(delivery["attempt_log"].size(), 1u);
    EXPECT_EQ(delivery["attempt_log"][0]["status_code"], 200);
    EXPECT_EQ(delivery["attempt_log"][0]["response_body"], "ok");
    auto attempts = Ok("GET", "/v1/endpoints/" + orders["id"].get<std::string>() + "/attempts");
    ASSERT_EQ(attempts["data"].size(), 1u);
    EXPECT_EQ(attempts["data"][0]["delivery_id"], delivery["id"]);
}

// An endpoint's answer is kept in the attempt log as storable text: NUL and invalid bytes
// replaced, the cut on a character boundary. Before, PostgreSQL refused such a body and the
// recorder retried the same batch forever, so no attempt of any endpoint was recorded.
TEST_F(WebhookFixture, AnEndpointAnsweringBytesThatAreNotTextCannotStopRecording) {
    receiver_.SetResponder([](const test_support::WebhookReceiver::Received& received) {
        if (received.name != "binary")
            return commons::http::Response::Text(200, "ok", "text/plain");
        // An odd prefix, then two-byte characters: a byte cut at 4096 splits one of them.
        std::string body("a\0b\xFF\xFE", 5);
        for (int i = 0; i < 3000; ++i) body += "\xC3\xA9";
        return commons::http::Response::Text(200, body, "application/octet-stream");
    });
    auto binary = Endpoint("binary", {"orders.*"});
    auto plain = Endpoint("plain", {"orders.*"});
    std::vector<json> events;
    for (int i = 0; i < 3; ++i) events.push_back(Publish("orders.order.created", {{"n", i}}));
    for (const auto& event : events) {
        for (const auto* endpoint : {&binary, &plain}) {
            json delivery;
            ASSERT_TRUE(WaitFor(15s, [&] {
                delivery = Delivery(event["id"], (*endpoint)["id"]);
                return delivery["status"] == "succeeded";
            })) << delivery.dump();
            ASSERT_EQ(delivery["attempt_log"].size(), 1u);
            const std::string kept = delivery["attempt_log"][0]["response_body"];
            if (endpoint == &plain) {
                EXPECT_EQ(kept, "ok");
                continue;
            }
            EXPECT_TRUE(commons::IsStorableText(kept));
            EXPECT_LE(kept.size(), 4096u);
            EXPECT_GE(kept.size(), 4090u);
            EXPECT_EQ(kept.substr(0, 11),
                      "a\xEF\xBF\xBD"
                      "b\xEF\xBF\xBD\xEF\xBF\xBD");
            EXPECT_EQ(kept.substr(kept.size() - 2), "\xC3\xA9");  // no half character at the end
        }
    }
}

TEST_F(WebhookFixture, EventsFromTheStreamAreStoredOnceAndDelivered) {
    auto endpoint = Endpoint("s", {"ledger.transaction.posted"});
    StartConsumer();
    commons::Event event;
    event.id = ids_.Next("evt");
    event.type = "ledger.transaction.posted";
    event.source = "ledger";
    event.created = Now() / domain::kMicrosPerSecond;
    event.data_json = R"({"transaction_id":"txn_1"})";
    AddToStream(event);
    AddToStream(event);  // the relay may publish twice: stored and delivered once
    commons::Event ignored = event;
    ignored.id = ids_.Next("evt");
    ignored.type = "ledger.account.created";
    AddToStream(ignored);
    ASSERT_TRUE(WaitFor(10s, [&] {
        return Scalar("SELECT count(*) FROM " + schema_ + ".events") == 2 &&
               receiver_.Count("s") >= 1;
    }));
    EXPECT_EQ(receiver_.Count("s"), 1u);
    EXPECT_EQ(receiver_.At("s")[0].webhook_id, event.id);
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".deliveries"), 1);
    // Acked only after the deliveries were stored: nothing pending in the group.
    ASSERT_TRUE(WaitFor(5s, [&] {
        auto pending = redis_->Command({"XPENDING", stream_, "webhook"});
        return !pending.elements.empty() && pending.elements[0].integer == 0;
    }));
}

TEST_F(WebhookFixture, FailedAttemptsAreRetriedOnTheScheduleWithJitter) {
    Freeze();  // retries come due only when the test moves the clock
    auto endpoint = Endpoint("flaky");
    receiver_.SetResponder([&](const auto&) {
        return ++calls_ <= 2 ? Response::Text(500, "down", "text/plain")
                             : Response::Text(200, "ok", "text/plain");
    });
    auto event = Publish("orders.order.created");
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("flaky") == 1; }));
    json delivery;
    ASSERT_TRUE(WaitFor(10s, [&] {
        delivery = Delivery(event["id"], endpoint["id"]);
        return delivery["last_status_code"] == 500;
    }));
    // Second attempt: 5 s ± 20% after the first.
    std::int64_t now_s = Now() / domain::kMicrosPerSecond;
    EXPECT_EQ(delivery["status"], "pending");
    EXPECT_GE(delivery["next_attempt"].get<std::int64_t>(), now_s + 3);
    EXPECT_LE(delivery["next_attempt"].get<std::int64_t>(), now_s + 6);
    EXPECT_EQ(receiver_.Count("flaky"), 1u);
    Advance(7s);
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("flaky") == 2; }));
    ASSERT_TRUE(WaitFor(10s, [&] {
        delivery = Delivery(event["id"], endpoint["id"]);
        return delivery["attempts"] == 2 && delivery["attempt_log"].size() == 2u;
    }));
    // Third: 5 min ± 20% after the second.
    now_s = Now() / domain::kMicrosPerSecond;
    EXPECT_GE(delivery["next_attempt"].get<std::int64_t>(), now_s + 238);
    EXPECT_LE(delivery["next_attempt"].get<std::int64_t>(), now_s + 361);
    Advance(6min);
    ASSERT_TRUE(WaitFor(
        10s, [&] { return Delivery(event["id"], endpoint["id"])["status"] == "succeeded"; }));
    EXPECT_EQ(receiver_.Count("flaky"), 3u);
    // Every attempt of a delivery carries the same webhook-id.
    for (const auto& r : receiver_.At("flaky")) EXPECT_EQ(r.webhook_id, event["id"]);
}

TEST_F(WebhookFixture, RetryAfterOfA429IsHonouredAndRedirectsAreNotFollowed) {
    Freeze();  // so the next attempt can be compared with now exactly
    auto throttled = Endpoint("busy");
    auto moved = Endpoint("moved");
    receiver_.SetResponder([&](const auto& r) {
        Response response = Response::Text(r.name == "busy" ? 429 : 302, "", "text/plain");
        if (r.name == "busy") response.SetHeader("Retry-After", "120");
        if (r.name == "moved") response.SetHeader("Location", receiver_.Url("elsewhere"));
        return response;
    });
    auto event = Publish("orders.order.created");
    json busy, redirected;
    ASSERT_TRUE(WaitFor(10s, [&] {
        busy = Delivery(event["id"], throttled["id"]);
        redirected = Delivery(event["id"], moved["id"]);
        return busy["last_status_code"] == 429 && redirected["last_status_code"] == 302;
    }));
    const std::int64_t now_s = Now() / domain::kMicrosPerSecond;
    EXPECT_GE(busy["next_attempt"].get<std::int64_t>(), now_s + 118);  // not 5 s
    EXPECT_LE(busy["next_attempt"].get<std::int64_t>(), now_s + 121);
    EXPECT_EQ(redirected["status"], "pending");
    EXPECT_EQ(receiver_.Count("elsewhere"), 0u);
}

TEST_F(WebhookFixture, GoneDisablesTheEndpointAndAnnouncesIt) {
    auto endpoint = Endpoint("gone");
    receiver_.SetResponder([](const auto&) { return Response::Text(410, "gone", "text/plain"); });
    auto event = Publish("orders.order.created");
    ASSERT_TRUE(WaitFor(10s, [&] {
        return Ok("GET", "/v1/endpoints/" + endpoint["id"].get<std::string>())["enabled"] == false;
    }));
    auto read = Ok("GET", "/v1/endpoints/" + endpoint["id"].get<std::string>());
    EXPECT_EQ(read["disabled_reason"], "gone");
    EXPECT_EQ(Delivery(event["id"], endpoint["id"])["status"], "failed");
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ +
                     ".outbox WHERE type = 'webhook.endpoint.disabled' AND data->>'reason' = "
                     "'gone' AND data->>'endpoint_id' = '" +
                     endpoint["id"].get<std::string>() + "'"),
              1);
    // A disabled endpoint gets no new deliveries.
    EXPECT_EQ(Publish("orders.order.created")["deliveries"], 0);
}

TEST_F(WebhookFixture, EndpointFailingForFiveDaysIsDisabled) {
    auto endpoint = Endpoint("dead");
    receiver_.SetResponder([](const auto&) { return Response::Text(500, "", "text/plain"); });
    Publish("orders.order.created");
    ASSERT_TRUE(WaitFor(10s, [&] {
        return Ok("GET", "/v1/endpoints/" +
                             endpoint["id"].get<std::string>())["health"]["consecutive_failures"] ==
               1;
    }));
    Advance(24h * 5);
    Publish("orders.order.created");
    ASSERT_TRUE(WaitFor(10s, [&] {
        return Ok("GET", "/v1/endpoints/" + endpoint["id"].get<std::string>())["enabled"] == false;
    }));
    EXPECT_EQ(Ok("GET", "/v1/endpoints/" + endpoint["id"].get<std::string>())["disabled_reason"],
              "failing");
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ +
                     ".outbox WHERE type = 'webhook.endpoint.disabled' AND data->>'reason' = "
                     "'failing'"),
              1);
}

TEST_F(WebhookFixture, CircuitOpensAfterConsecutiveFailuresThenProbes) {
    Freeze();  // retries come due only when the test moves the clock
    // One at a time, so the third failure is recorded before a fourth attempt could start.
    auto endpoint = Endpoint("breaker", {"*"}, {{"max_in_flight", 1}});
    const std::string id = endpoint["id"];
    receiver_.SetResponder([&](const auto&) {
        return healthy_ ? Response::Text(200, "ok", "text/plain")
                        : Response::Text(500, "", "text/plain");
    });
    std::vector<std::string> events;
    for (int i = 0; i < 5; ++i) events.push_back(Publish("orders.order.created")["id"]);
    json health;
    ASSERT_TRUE(WaitFor(10s, [&] {
        health = Ok("GET", "/v1/endpoints/" + id)["health"];
        return health["consecutive_failures"] == 3;
    })) << health.dump();
    ASSERT_FALSE(health["circuit_open_until"].is_null());
    const std::int64_t now_s = Now() / domain::kMicrosPerSecond;
    EXPECT_GE(health["circuit_open_until"].get<std::int64_t>(), now_s + 28);
    EXPECT_EQ(receiver_.Count("breaker"), 3u);
    // While open, the two untried deliveries stay untried even when their retries are due.
    Advance(10s);
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".deliveries WHERE attempts = 0"), 2);
    healthy_ = true;
    Advance(25s);  // past the cooldown: a probe goes, succeeds, and the rest follow
    ASSERT_TRUE(WaitFor(10s, [&] {
        return Scalar("SELECT count(*) FROM " + schema_ +
                      ".deliveries WHERE status = 'succeeded'") == 5;
    }));
    EXPECT_EQ(Ok("GET", "/v1/endpoints/" + id)["health"]["consecutive_failures"], 0);
}

TEST_F(WebhookFixture, RateLimitIsEnforcedPerEndpoint) {
    Freeze();  // tokens refill only when the test moves the clock
    auto limited = Endpoint("slow", {"*"}, {{"rate_limit_per_second", 5}});
    for (int i = 0; i < 20; ++i) Publish("orders.order.created");
    // The clock stands still: the bucket's first second of tokens, and nothing more.
    ASSERT_TRUE(WaitFor(10s, [&] {
        return Scalar("SELECT count(*) FROM " + schema_ +
                      ".deliveries WHERE status = 'succeeded'") == 5;
    }));
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".deliveries WHERE attempts = 0"), 15);
    Advance(1s);
    ASSERT_TRUE(WaitFor(10s, [&] {
        return Scalar("SELECT count(*) FROM " + schema_ +
                      ".deliveries WHERE status = 'succeeded'") == 10;
    }));
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".deliveries WHERE attempts = 0"), 10);
    EXPECT_EQ(receiver_.Count("slow"), 10u);
}

TEST_F(WebhookFixture, InFlightDeliveriesPerEndpointAreBounded) {
    auto endpoint = Endpoint("narrow", {"*"}, {{"max_in_flight", 2}});
    receiver_.SetResponder([&](const auto&) {
        gate_.Wait();
        return Response::Text(200, "ok", "text/plain");
    });
    for (int i = 0; i < 6; ++i) Publish("orders.order.created");
    ASSERT_TRUE(gate_.WaitForWaiters(2, 10s));
    EXPECT_EQ(receiver_.max_concurrent("narrow"), 2);
    gate_.Open();
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("narrow") == 6; }));
    EXPECT_LE(receiver_.max_concurrent("narrow"), 2);
}

TEST_F(WebhookFixture, InFlightSlotsBoundEveryAdmissionAndAreFreedByRecordsOrLeaseExpiry) {
    engine_->Stop();  // this test is the only claimant: two "replicas" driven by hand
    auto endpoint = Endpoint("slots", {"*"}, {{"max_in_flight", 3}});
    const std::string id = endpoint["id"];
    auto events = [&](int n) {
        std::vector<store::IncomingEvent> out;
        for (int i = 0; i < n; ++i) {
            const std::string event_id = ids_.Next("evt");
            out.push_back({event_id, "orders.order.created", "orders",
                           Now() / domain::kMicrosPerSecond, R"({"id":")" + event_id + "\"}"});
        }
        return out;
    };
    store::ClaimSettings offer;
    offer.limit = 10;
    offer.lease_us = 10 * domain::kMicrosPerSecond;
    const domain::Micros now = Now();
    // Replica A's intake: five fresh deliveries, room for ten, but three places in flight.
    auto first = store_->AddEvents(events(5), now, &offer);
    ASSERT_EQ(first.leased.size(), 3u);
    EXPECT_TRUE(first.left_unleased);
    std::set<std::int32_t> slots;
    for (const auto& d : first.leased) slots.insert(d.slot);
    EXPECT_EQ(slots, (std::set<std::int32_t>{0, 1, 2}));
    // The slot rows were made as the limit needed them, and hold the deliveries' leases.
    EXPECT_EQ(Scalar("SELECT slots FROM " + schema_ + ".endpoints WHERE id = '" + id + "'"), 3);
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".endpoint_slots WHERE endpoint_id = '" +
                     id + "' AND lease_token = " + std::to_string(first.leased[0].lease_token) +
                     " AND lease_until_us = " + std::to_string(now + offer.lease_us)),
              3);
    // Replica B's intake and claims get nothing while all three are out.
    auto second = store_->AddEvents(events(2), now, &offer);
    EXPECT_EQ(second.deliveries, 2u);
    EXPECT_TRUE(second.leased.empty());
    EXPECT_TRUE(store_->Claim(now, {}, offer).deliveries.empty());
    // A recorded attempt frees its slot (a wrong token frees nothing), and the next claim
    // takes exactly that one.
    auto attempt = [&](const store::ClaimedDelivery& d, std::int64_t token) {
        store::AttemptResult r;
        r.delivery_id = d.delivery_id;
        r.endpoint_id = d.endpoint_id;
        r.lease_token = token;
        r.slot = d.slot;
        r.started_us = now;
        r.finished_us = now + 1000;
        r.status_code = 200;
        return r;
    };
    auto half = [] { return 0.5; };
    EXPECT_EQ(store_->RecordResults({attempt(first.leased[1], first.leased[1].lease_token + 2)}, {},
                                    half),
              0u);
    EXPECT_TRUE(store_->Claim(now, {}, offer).deliveries.empty());
    EXPECT_EQ(
        store_->RecordResults({attempt(first.leased[1], first.leased[1].lease_token)}, {}, half),
        1u);
    auto claimed = store_->Claim(now, {}, offer).deliveries;
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(claimed[0].slot, first.leased[1].slot);
    // Leases that ran out free their slots too: a crashed replica's places come back.
    const domain::Micros later = now + offer.lease_us + 1;
    auto after_expiry = store_->Claim(later, {}, offer).deliveries;
    ASSERT_EQ(after_expiry.size(), 3u);
    slots.clear();
    for (const auto& d : after_expiry) slots.insert(d.slot);
    EXPECT_EQ(slots, (std::set<std::int32_t>{0, 1, 2}));
    // A higher limit adds slot rows at the next admission.
    Ok("PATCH", "/v1/endpoints/" + id, {{"max_in_flight", 5}});
    EXPECT_EQ(store_->Claim(later, {}, offer).deliveries.size(), 2u);
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".endpoint_slots WHERE endpoint_id = '" +
                     id + "'"),
              5);
}

TEST_F(WebhookFixture, RoomAnEndpointAtItsBoundCannotUseGoesToTheNextOne) {
    engine_->Stop();  // this test is the only claimant
    // Made first, so its id sorts first and it is offered the room first.
    auto full = Endpoint("full", {"*"}, {{"max_in_flight", 2}});
    auto next = Endpoint("next", {"orders.*"});
    ASSERT_LT(full["id"].get<std::string>(), next["id"].get<std::string>());
    auto publish = [&](const std::string& type, int n) {
        std::vector<store::IncomingEvent> events;
        for (int i = 0; i < n; ++i) {
            const std::string id = ids_.Next("evt");
            events.push_back(
                {id, type, "orders", Now() / domain::kMicrosPerSecond, R"({"id":")" + id + "\"}"});
        }
        return events;
    };
    store::ClaimSettings offer;
    offer.limit = 10;
    const domain::Micros now = Now();
    // Two events only the first endpoint takes fill its two places.
    EXPECT_EQ(store_->AddEvents(publish("billing.invoice.paid", 2), now, &offer).leased.size(), 2u);
    // Room for two, wanted by both endpoints: the first gets none (it is full), the second both.
    offer.limit = 2;
    auto added = store_->AddEvents(publish("orders.order.created", 2), now, &offer);
    EXPECT_EQ(added.deliveries, 4u);
    ASSERT_EQ(added.leased.size(), 2u);
    for (const auto& d : added.leased) EXPECT_EQ(d.endpoint_id, next["id"]);
}

TEST_F(WebhookFixture, RetentionPurgesWhatIsOlderThanTheCutoffAndKeepsWhatIsStillNeeded) {
    Freeze();  // no retry comes due while the test looks
    auto ok = Endpoint("kept");
    auto failing = Endpoint("failing");
    receiver_.SetResponder([&](const auto& received) {
        return received.name == "failing" ? Response::Text(500, "", "text/plain")
                                          : Response::Text(200, "ok", "text/plain");
    });
    auto count = [&](const std::string& sql) {
        return Scalar("SELECT count(*) FROM " + schema_ + sql);
    };
    // Old: two events (four deliveries: two delivered, two failed once and pending a retry),
    // a processed Stripe event, and an event whose two deliveries are leased (in flight).
    ASSERT_TRUE(store_->InsertInbound("evt_stripe_old", "charge.succeeded", "{}", Now()));
    inbound_->Wake();
    const std::string old_a = Publish("orders.order.created")["id"];
    Publish("orders.order.created");
    ASSERT_TRUE(WaitFor(10s, [&] {
        return receiver_.Count("kept") == 2 &&
               count(".deliveries WHERE endpoint_id = '" + failing["id"].get<std::string>() +
                     "' AND attempts = 1 AND status = 'pending' AND lease_token IS NULL") == 2 &&
               count(".inbound_events WHERE processed_us IS NOT NULL") == 1;
    }));
    store::ClaimSettings offer = engine_->LeaseOffer();
    const std::string in_flight_event = ids_.Next("evt");
    auto held = store_->AddEvents({{in_flight_event, "orders.order.created", "orders",
                                    Now() / domain::kMicrosPerSecond, "{}"}},
                                  Now(), &offer);
    ASSERT_EQ(held.leased.size(), 2u);  // held here, never sent
    const std::string old_delivery = Delivery(old_a, ok["id"])["id"];
    // The cutoff: a millisecond of the ids' clock that the old ids are all before and the new
    // ones after. (Receive times come from the frozen clock and are all before it.)
    const domain::Micros cutoff = app::SystemMicros() + 1000;
    ASSERT_TRUE(WaitFor(10s, [&] { return app::SystemMicros() > cutoff + 1000; }));
    const std::string fresh = Publish("orders.order.created")["id"];
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("kept") == 3; }));

    store::PurgeSettings purge;
    purge.now = Now();
    purge.cutoff = cutoff;
    purge.batch = 1;  // batches of one row: every step runs several times
    // With the default margin, events wait an hour longer than their deliveries.
    auto counts = store_->Purge(purge);
    EXPECT_EQ(counts.deliveries, 4u);
    EXPECT_EQ(counts.expired, 2u);  // the failing endpoint's, still pending
    EXPECT_EQ(counts.attempts, 4u);
    EXPECT_EQ(counts.events, 0u);
    EXPECT_EQ(counts.inbound_events, 1u);
    EXPECT_FALSE(counts.more);
    EXPECT_EQ(count(".events"), 4);
    purge.event_margin = 0;
    counts = store_->Purge(purge);
    EXPECT_EQ(counts.deliveries, 0u);
    EXPECT_EQ(counts.events, 2u);  // not the one whose deliveries are in flight
    // What is left: the new event's deliveries and the in-flight ones, with their events.
    EXPECT_EQ(count(".events"), 2);
    EXPECT_EQ(count(".events WHERE id IN ('" + fresh + "', '" + in_flight_event + "')"), 2);
    EXPECT_EQ(count(".deliveries"), 4);
    EXPECT_EQ(count(".deliveries WHERE event_id = '" + fresh + "'"), 2);
    EXPECT_EQ(count(".deliveries WHERE event_id = '" + in_flight_event +
                    "' AND lease_token = " + std::to_string(held.leased[0].lease_token)),
              2);
    EXPECT_EQ(Call("GET", "/v1/deliveries/" + old_delivery).status, 404);
    // Retry and recover refuse what the purge may take (an hour's margin before the cutoff).
    const std::string fresh_delivery = Delivery(fresh, ok["id"])["id"];
    EXPECT_FALSE(store_->RetryDelivery(fresh_delivery, Now(), Now() + 1));
    const std::string failed_fresh = Delivery(fresh, failing["id"])["id"];
    Scalar("WITH u AS (UPDATE " + schema_ + ".deliveries SET status = 'failed', created_us = " +
           std::to_string(Now() - kRetentionUs + 1800 * domain::kMicrosPerSecond) +
           " WHERE id IN ('" + fresh_delivery + "', '" + failed_fresh +
           "') RETURNING 1) SELECT count(*) FROM u");
    auto refused = Call("POST", "/v1/deliveries/" + fresh_delivery + "/retry");
    EXPECT_EQ(refused.status, 409) << refused.body;
    EXPECT_NE(refused.body.find("delivery_expired"), std::string::npos) << refused.body;
    EXPECT_EQ(Ok("POST", "/v1/endpoints/" + failing["id"].get<std::string>() + "/recover",
                 {{"since", 0}}, 202)["deliveries"],
              0);
    EXPECT_EQ(count(".deliveries WHERE status = 'failed' AND event_id = '" + fresh + "'"), 2);
    // A pass cut short by its batch limit says so, and leaves the events alone.
    purge.cutoff = app::SystemMicros() + 1000;
    ASSERT_TRUE(WaitFor(10s, [&] { return app::SystemMicros() > purge.cutoff + 1000; }));
    purge.now = Now() + 61 * domain::kMicrosPerSecond;  // the held leases have run out
    purge.batches_max = 1;
    counts = store_->Purge(purge);
    EXPECT_TRUE(counts.more);
    EXPECT_EQ(counts.deliveries, 1u);
    EXPECT_EQ(counts.events, 0u);
    // Stopped from outside, a pass ends before its next batch.
    purge.batches_max = 100;
    EXPECT_TRUE(store_->Purge(purge, [] { return true; }).more);
}

TEST_F(WebhookFixture, IntakeLeasesFreshDeliveriesUpToTheOfferAndUnsentLeasesCanBeGivenBack) {
    auto endpoint = Endpoint("fresh", {"*"}, {{"max_in_flight", 5}});
    const std::string endpoint_id = endpoint["id"];
    std::vector<store::IncomingEvent> events;
    for (int i = 0; i < 3; ++i) {
        const std::string id = ids_.Next("evt");
        events.push_back({id, "orders.order.created", "orders", Now() / domain::kMicrosPerSecond,
                          R"({"id":")" + id + R"(","n":)" + std::to_string(i) + "}"});
    }
    store::ClaimSettings offer = engine_->LeaseOffer();
    ASSERT_GE(offer.limit, 2u);
    offer.limit = 2;  // room for two: the third waits for a claim
    const domain::Micros now = Now();
    auto added = store_->AddEvents(events, now, &offer);
    EXPECT_EQ(added.deliveries, 3u);
    EXPECT_TRUE(added.left_unleased);
    ASSERT_EQ(added.leased.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& d = added.leased[i];
        EXPECT_EQ(d.event_id, events[i].id);  // in the events' order
        EXPECT_EQ(d.payload, events[i].payload);
        EXPECT_EQ(d.endpoint_id, endpoint_id);
        EXPECT_EQ(d.url, receiver_.Url("fresh"));
        ASSERT_EQ(d.secrets.size(), 1u);
        EXPECT_EQ(d.secrets[0], endpoint["secret"]);
        EXPECT_EQ(d.lease_until_us, now + offer.lease_us);
        // Stored as a claim leaves it: one attempt counted, the lease and its token set.
        EXPECT_EQ(Scalar("SELECT attempts * 1000 + (lease_until_us = " +
                         std::to_string(d.lease_until_us) + ")::int * 10 + (lease_token = " +
                         std::to_string(d.lease_token) + ")::int FROM " + schema_ +
                         ".deliveries WHERE id = '" + d.delivery_id + "'"),
                  1011);
    }
    // The third was stored unclaimed, and the engine claims and sends it.
    engine_->Wake();
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("fresh") == 1; }));
    EXPECT_EQ(receiver_.At("fresh")[0].webhook_id, events[2].id);
    // A token that is not the lease's gives nothing back.
    auto wrong = added.leased;
    for (auto& d : wrong) d.lease_token += 2;
    EXPECT_EQ(store_->ReleaseLeases(wrong), 0u);
    // Never sent: given back, with the attempt the claim counted taken back too. Then any
    // claim may take them, and each is delivered once.
    EXPECT_EQ(store_->ReleaseLeases(added.leased), 2u);
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".deliveries WHERE endpoint_id = '" +
                     endpoint_id + "' AND attempts = 0 AND lease_until_us IS NULL"),
              2);
    engine_->Wake();
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("fresh") == 3; }));
    std::set<std::string> ids;
    for (const auto& r : receiver_.At("fresh")) ids.insert(r.webhook_id);
    EXPECT_EQ(ids, (std::set<std::string>{events[0].id, events[1].id, events[2].id}));
}

TEST_F(WebhookFixture, OrderedEndpointGetsEventsInOrderEvenAcrossRetries) {
    Freeze();  // retries come due only when the test moves the clock
    auto endpoint = Endpoint("ordered", {"*"}, {{"ordered", true}});
    receiver_.SetResponder([&](const auto&) {
        return ++calls_ == 1 ? Response::Text(500, "", "text/plain")
                             : Response::Text(200, "ok", "text/plain");
    });
    std::vector<std::string> events;
    for (int i = 0; i < 4; ++i) events.push_back(Publish("orders.order.created")["id"]);
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("ordered") == 1; }));
    // The first failed: the others wait for its retry instead of overtaking it.
    ASSERT_TRUE(WaitFor(
        10s, [&] { return Delivery(events[0], endpoint["id"])["last_status_code"] == 500; }));
    EXPECT_EQ(receiver_.Count("ordered"), 1u);
    Advance(7s);
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("ordered") == 5; }));
    std::vector<std::string> order;
    for (const auto& r : receiver_.At("ordered")) order.push_back(r.webhook_id);
    EXPECT_EQ(order,
              (std::vector<std::string>{events[0], events[0], events[1], events[2], events[3]}));
}

TEST_F(WebhookFixture, DeletingAnEndpointWithDeliveriesInFlightFailsItsBacklogAndStopsIt) {
    auto endpoint = Endpoint("leaving", {"*"}, {{"max_in_flight", 2}});
    const std::string id = endpoint["id"];
    receiver_.SetResponder([&](const auto&) {
        gate_.Wait();
        return Response::Text(200, "ok", "text/plain");
    });
    for (int i = 0; i < 30; ++i) Publish("orders.order.created");
    ASSERT_TRUE(gate_.WaitForWaiters(2, 10s));
    EXPECT_TRUE(Ok("DELETE", "/v1/endpoints/" + id)["deleted"]);
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ +
                     ".deliveries WHERE status = 'failed' AND last_error = 'endpoint_deleted'"),
              30);
    gate_.Open();
    // The two attempts in flight finish, but their outcome no longer changes the deliveries.
    ASSERT_TRUE(
        WaitFor(10s, [&] { return Scalar("SELECT count(*) FROM " + schema_ + ".attempts") == 2; }));
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".deliveries WHERE status <> 'failed'"),
              0);
    EXPECT_EQ(receiver_.Count("leaving"), 2u);
}

TEST_F(WebhookFixture, RotatedSecretKeepsSigningAlongsideTheNewOneForTheOverlap) {
    auto endpoint = Endpoint("rotating");
    auto rotated =
        Ok("POST", "/v1/endpoints/" + endpoint["id"].get<std::string>() + "/rotate_secret");
    ASSERT_NE(rotated["secret"], endpoint["secret"]);
    ASSERT_EQ(rotated["secrets"].size(), 2u);
    EXPECT_EQ(rotated["secrets"][1]["secret"], endpoint["secret"]);
    const std::int64_t now_s = Now() / domain::kMicrosPerSecond;
    EXPECT_NEAR(rotated["secrets"][1]["expires"].get<std::int64_t>(), now_s + 24 * 3600, 5);
    Publish("orders.order.created");
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("rotating") == 1; }));
    auto first = receiver_.At("rotating")[0];
    EXPECT_NE(first.signature.find(' '), std::string::npos);  // two signatures
    EXPECT_TRUE(Verifies(first, endpoint["secret"], now_s));
    EXPECT_TRUE(Verifies(first, rotated["secret"], now_s));
    // After the overlap only the new secret signs.
    Advance(24h + 1min);
    Publish("orders.order.created");
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("rotating") == 2; }));
    auto later = receiver_.At("rotating")[1];
    const std::int64_t later_s = Now() / domain::kMicrosPerSecond;
    EXPECT_EQ(later.signature.find(' '), std::string::npos);
    EXPECT_TRUE(Verifies(later, rotated["secret"], later_s));
    EXPECT_FALSE(Verifies(later, endpoint["secret"], later_s));
}

TEST_F(WebhookFixture, DeliveriesCanBeRetriedAndAnEndpointRecovered) {
    auto endpoint = Endpoint("recovering");
    const std::string id = endpoint["id"];
    receiver_.SetResponder([](const auto&) { return Response::Text(410, "", "text/plain"); });
    const std::int64_t since = Now() / domain::kMicrosPerSecond;
    auto event = Publish("orders.order.created");
    ASSERT_TRUE(WaitFor(10s, [&] { return Delivery(event["id"], id)["status"] == "failed"; }));
    receiver_.SetResponder({});
    Ok("PATCH", "/v1/endpoints/" + id, {{"enabled", true}});
    auto recovered = Ok("POST", "/v1/endpoints/" + id + "/recover", {{"since", since}}, 202);
    EXPECT_EQ(recovered["deliveries"], 1);
    ASSERT_TRUE(WaitFor(10s, [&] { return Delivery(event["id"], id)["status"] == "succeeded"; }));
    // A succeeded delivery can be sent again on request.
    auto delivery = Delivery(event["id"], id);
    auto retried =
        Ok("POST", "/v1/deliveries/" + delivery["id"].get<std::string>() + "/retry", nullptr, 202);
    EXPECT_EQ(retried["status"], "pending");
    ASSERT_TRUE(WaitFor(10s, [&] { return receiver_.Count("recovering") == 3; }));
    ASSERT_TRUE(WaitFor(10s, [&] { return Delivery(event["id"], id)["attempts"] == 3; }));
    EXPECT_EQ(Call("POST", "/v1/deliveries/dlv_missing/retry").status, 404);
    EXPECT_EQ(ErrorCode(Call("POST", "/v1/endpoints/" + id + "/recover", R"({"since":"x"})")),
              "parameter_invalid");
}

TEST_F(WebhookFixture, PublishingHonoursIdempotencyKeysAndRefusesBadEvents) {
    Endpoint("idem");
    const std::string body = R"({"type":"orders.order.created","data":{"n":1}})";
    auto first = Call("POST", "/v1/events", body, kAdminKey, {{"Idempotency-Key", "k-1"}});
    auto again = Call("POST", "/v1/events", body, kAdminKey, {{"Idempotency-Key", "k-1"}});
    ASSERT_EQ(first.status, 201) << first.body;
    ASSERT_EQ(again.status, 201);
    EXPECT_EQ(json::parse(first.body)["id"], json::parse(again.body)["id"]);
    EXPECT_EQ(again.Header("idempotent-replayed"), "true");
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".events"), 1);
    EXPECT_EQ(ErrorCode(Call("POST", "/v1/events", R"({"type":"Bad","data":{}})")),
              "event_type_invalid");
    EXPECT_EQ(ErrorCode(Call("POST", "/v1/events", R"({"type":"a.b","data":[1]})")),
              "parameter_missing");
    EXPECT_EQ(ErrorCode(Call("POST", "/v1/events", R"({"type":"a.b","data":{},"x":1})")),
              "parameter_unknown");
}

TEST_F(WebhookFixture, PrivateTargetsAreRefusedAtSendTimeUnlessAllowed) {
    // The fixture's engine allows them; a strict engine on the same store refuses them after
    // resolving, so an endpoint whose name points inside is never called.
    engine_->Stop();
    app::EngineSettings strict;
    strict.senders = 2;
    strict.poll_interval = 50ms;
    app::DeliveryEngine guarded(*store_, strict, Clock(), logger_, metrics_);
    guarded.Start();
    auto endpoint = Endpoint("inside");
    auto event = Publish("orders.order.created");
    guarded.Wake();
    json delivery;
    ASSERT_TRUE(WaitFor(10s, [&] {
        delivery = Delivery(event["id"], endpoint["id"]);
        return delivery["attempts"] == 1 && !delivery["last_error"].is_null();
    }));
    EXPECT_NE(delivery["last_error"].get<std::string>().find("forbidden_address"),
              std::string::npos)
        << delivery.dump();
    EXPECT_EQ(receiver_.Count("inside"), 0u);
    guarded.Stop();
}

TEST_F(WebhookFixture, HttpsEndpointsRequireAVerifiedTlsHandshake) {
    // The receiver speaks plain HTTP: an https URL to it fails in the handshake.
    auto endpoint =
        Ok("POST", "/v1/endpoints",
           {{"url", "https://127.0.0.1:" + std::to_string(receiver_.port()) + "/hooks/tls"},
            {"event_types", {"*"}}},
           201);
    auto event = Publish("orders.order.created");
    json delivery;
    ASSERT_TRUE(WaitFor(10s, [&] {
        delivery = Delivery(event["id"], endpoint["id"]);
        return !delivery["last_error"].is_null();
    }));
    EXPECT_EQ(delivery["last_error"].get<std::string>().rfind("tls", 0), 0u) << delivery.dump();
    EXPECT_TRUE(delivery["last_status_code"].is_null());
}

// ---- Inbound (Stripe) ----

TEST_F(WebhookFixture, SignedStripeEventIsStoredOnceAcknowledgedAndDispatched) {
    const std::string body =
        R"({"id":"evt_in_1","object":"event","type":"payment_intent.succeeded","data":{}})";
    const std::int64_t t = Now() / domain::kMicrosPerSecond;
    auto reply = Call("POST", "/v1/inbound/stripe", body, nullptr,
                      {{"Stripe-Signature", StripeHeader(kStripeSecret, t, body)}});
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(json::parse(reply.body)["duplicate"], false);
    ASSERT_TRUE(WaitFor(
        10s, [&] { return Ok("GET", "/v1/inbound_events/evt_in_1")["processed"] == true; }));
    EXPECT_EQ(Ok("GET", "/v1/inbound_events/evt_in_1")["handler"], "test_payments");
    // Stripe sends it again: acknowledged, not stored or handled twice.
    auto duplicate = Call("POST", "/v1/inbound/stripe", body, nullptr,
                          {{"Stripe-Signature", StripeHeader(kStripeOldSecret, t, body)}});
    ASSERT_EQ(duplicate.status, 200);
    EXPECT_EQ(json::parse(duplicate.body)["duplicate"], true);
    EXPECT_EQ(handled_.load(), 1);
    // A type without a handler is stored and acknowledged all the same.
    const std::string other = R"({"id":"evt_in_2","type":"customer.created"})";
    ASSERT_EQ(Call("POST", "/v1/inbound/stripe", other, nullptr,
                   {{"Stripe-Signature", StripeHeader(kStripeSecret, t, other)}})
                  .status,
              200);
    ASSERT_TRUE(WaitFor(
        10s, [&] { return Ok("GET", "/v1/inbound_events/evt_in_2")["processed"] == true; }));
    EXPECT_TRUE(Ok("GET", "/v1/inbound_events/evt_in_2")["handler"].is_null());
}

TEST_F(WebhookFixture, FailingInboundHandlerIsRetriedAfterABackoff) {
    Freeze();  // the retry comes due only when the test moves the clock
    fail_handler_ = true;
    const std::string body = R"({"id":"evt_in_3","type":"payment_intent.created"})";
    const std::int64_t t = Now() / domain::kMicrosPerSecond;
    ASSERT_EQ(Call("POST", "/v1/inbound/stripe", body, nullptr,
                   {{"Stripe-Signature", StripeHeader(kStripeSecret, t, body)}})
                  .status,
              200);
    ASSERT_TRUE(WaitFor(10s, [&] { return handled_.load() == 1; }));
    ASSERT_TRUE(
        WaitFor(10s, [&] { return Ok("GET", "/v1/inbound_events/evt_in_3")["attempts"] == 1; }));
    EXPECT_EQ(Ok("GET", "/v1/inbound_events/evt_in_3")["processed"], false);
    Advance(2s);
    ASSERT_TRUE(WaitFor(
        10s, [&] { return Ok("GET", "/v1/inbound_events/evt_in_3")["processed"] == true; }));
    EXPECT_EQ(handled_.load(), 2);
}

TEST_F(WebhookFixture, EveryBadStripeSignatureIsRefusedAndNothingStored) {
    // The tolerance cases sit one second past the edge; a running clock would cross a second
    // boundary between signing and checking and bring t + 301 back within 300 s.
    Freeze();
    const std::string body = R"({"id":"evt_bad","type":"payment_intent.succeeded"})";
    const std::int64_t t = Now() / domain::kMicrosPerSecond;
    struct Case {
        std::optional<std::string> header;
        std::string code;
    };
    const std::vector<Case> cases = {
        {std::nullopt, "signature_missing"},
        {"", "signature_missing"},
        {"garbage", "signature_malformed"},
        {"t=" + std::to_string(t) + ",v0=abc", "signature_no_v1"},
        {StripeHeader("whsec_someone_else", t, body), "signature_mismatch"},
        {StripeHeader(kStripeSecret, t, body + " "), "signature_mismatch"},
        {StripeHeader(kStripeSecret, t - 301, body), "signature_timestamp_out_of_tolerance"},
        {StripeHeader(kStripeSecret, t + 301, body), "signature_timestamp_out_of_tolerance"},
    };
    for (const auto& c : cases) {
        std::vector<std::pair<std::string, std::string>> headers;
        if (c.header) headers.emplace_back("Stripe-Signature", *c.header);
        auto reply = Call("POST", "/v1/inbound/stripe", body, nullptr, headers);
        EXPECT_EQ(reply.status, 400) << c.header.value_or("<none>");
        EXPECT_EQ(ErrorCode(reply), c.code) << c.header.value_or("<none>");
    }
    // Signed, but not an event.
    const std::string not_event = R"({"hello":"world"})";
    auto reply = Call("POST", "/v1/inbound/stripe", not_event, nullptr,
                      {{"Stripe-Signature", StripeHeader(kStripeSecret, t, not_event)}});
    EXPECT_EQ(reply.status, 400);
    EXPECT_EQ(ErrorCode(reply), "event_invalid");
    EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".inbound_events"), 0);
}

TEST(StripeSecrets, ListIsSplitOnNewlinesAndCommasSkippingBlanksAndComments) {
    EXPECT_EQ(api::ParseSecretList("whsec_a\n\n# old one\nwhsec_b\r\n"),
              (std::vector<std::string>{"whsec_a", "whsec_b"}));
    EXPECT_EQ(api::ParseSecretList("whsec_a, whsec_b"),
              (std::vector<std::string>{"whsec_a", "whsec_b"}));
    EXPECT_TRUE(api::ParseSecretList("").empty());
}

}  // namespace
}  // namespace webhook::testing
