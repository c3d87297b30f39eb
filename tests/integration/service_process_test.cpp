// Runs each service binary as a real process against the devstack PostgreSQL and Redis.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "commons/crypto.hpp"
#include "commons/db.hpp"
#include "commons/db_transaction.hpp"
#include "commons/events.hpp"
#include "commons/ids.hpp"
#include "commons/redis.hpp"
#include "support/devstack.hpp"
#include "support/free_port.hpp"
#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "support/private_redis.hpp"
#include "support/process.hpp"
#include "support/scratch_database.hpp"
#include "support/webhook_receiver.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::ChildProcess;
using test_support::Fetch;

struct ServiceCase {
    std::string name;
};

void PrintTo(const ServiceCase& service, std::ostream* out) { *out << service.name; }

std::string Binary(const std::string& service) {
    return std::string(PAYMENTS_BIN_DIR) + "/" + service + "-service";
}

// A port that was free a moment ago; the kernel rarely hands it out again that fast.
using test_support::FreePort;

std::map<std::string, std::string> ServiceEnvironment(std::uint16_t port) {
    std::map<std::string, std::string> env{
        {"PATH", "/usr/bin:/bin"},
        {"PAYMENTS_DATABASE_URL", test_support::DatabaseUrl()},
        {"PAYMENTS_REDIS_URL", test_support::RedisUrl()},
        {"PAYMENTS_SECRETS_DIR", test_support::DevstackVariable("PAYMENTS_SECRETS_DIR")},
        {"PORT", std::to_string(port)},
        {"PAYMENTS_HTTP_ADDRESS", "127.0.0.1"},
    };
    return env;
}

bool Healthy(std::uint16_t port) {
    try {
        return Fetch(port, "GET", "/health").status == 200;
    } catch (const std::runtime_error&) {
        return false;
    }
}

class ServiceProcessTest : public ::testing::TestWithParam<ServiceCase> {
  protected:
    void Migrate() {
        ChildProcess migrate(Binary(GetParam().name), {"migrate"}, ServiceEnvironment(0));
        auto status = migrate.WaitForExit(60s);
        ASSERT_EQ(status, 0) << migrate.Output();
    }

    std::unique_ptr<ChildProcess> StartService(std::map<std::string, std::string> env) {
        auto child = std::make_unique<ChildProcess>(Binary(GetParam().name),
                                                    std::vector<std::string>{"serve"}, env);
        std::uint16_t port = static_cast<std::uint16_t>(std::stoi(env["PORT"]));
        bool up =
            test_support::PollUntil(30s, [&] { return Healthy(port) || child->WaitForExit(0ms); });
        EXPECT_TRUE(up && Healthy(port)) << child->Output();
        return child;
    }

    std::string dev_key_ = test_support::DevstackVariable("PAYMENTS_DEV_API_KEY");
};

TEST_P(ServiceProcessTest, MigrateIsIdempotent) {
    Migrate();
    ChildProcess again(Binary(GetParam().name), {"migrate"}, ServiceEnvironment(0));
    ASSERT_EQ(again.WaitForExit(60s), 0) << again.Output();
    EXPECT_NE(again.Output().find("\"applied_count\":0"), std::string::npos) << again.Output();
}

TEST_P(ServiceProcessTest, ServesHealthReadyMetricsAndRequiresAuthUnderV1) {
    Migrate();
    auto port = FreePort();
    auto env = ServiceEnvironment(port);
    // A password in the database URL must never reach the logs (devstack trusts local users,
    // so the password is accepted and ignored).
    std::string url = env["PAYMENTS_DATABASE_URL"];
    env["PAYMENTS_DATABASE_URL"] = url.replace(url.find("payments@"), 9, "payments:hunter2@");
    auto service = StartService(env);

    auto health = Fetch(port, "GET", "/health");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(nlohmann::json::parse(health.body)["service"], GetParam().name);

    auto ready = Fetch(port, "GET", "/ready");
    EXPECT_EQ(ready.status, 200) << ready.body;
    auto checks = nlohmann::json::parse(ready.body)["checks"];
    EXPECT_EQ(checks["database"], "ok");
    EXPECT_EQ(checks["redis"], "ok");

    auto metrics = Fetch(port, "GET", "/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_NE(metrics.Header("content-type")->find("text/plain; version=0.0.4"), std::string::npos);
    EXPECT_NE(metrics.body.find("payments_build_info{service=\"" + GetParam().name),
              std::string::npos)
        << metrics.body;

    auto anonymous = Fetch(port, "GET", "/v1/anything");
    EXPECT_EQ(anonymous.status, 401);
    EXPECT_EQ(nlohmann::json::parse(anonymous.body)["error"]["code"], "missing_api_key");
    EXPECT_TRUE(anonymous.Header("x-request-id"));

    auto forged = Fetch(port, "GET", "/v1/anything", {{"Authorization", "Bearer sk_dev_forged"}});
    EXPECT_EQ(forged.status, 401);
    EXPECT_EQ(nlohmann::json::parse(forged.body)["error"]["code"], "invalid_api_key");

    auto malformed = Fetch(port, "GET", "/v1/anything", {{"Authorization", "Basic " + dev_key_}});
    EXPECT_EQ(malformed.status, 401);

    auto authenticated =
        Fetch(port, "GET", "/v1/anything", {{"Authorization", "Bearer " + dev_key_}});
    EXPECT_EQ(authenticated.status, 404);
    EXPECT_EQ(nlohmann::json::parse(authenticated.body)["error"]["code"], "resource_missing");

    service->Signal(SIGTERM);
    EXPECT_EQ(service->WaitForExit(30s), 0) << service->Output();
    std::string log = service->Output();
    EXPECT_NE(log.find("\"msg\":\"started\""), std::string::npos);
    EXPECT_NE(log.find("\"port\":" + std::to_string(port)), std::string::npos);
    EXPECT_NE(log.find("\"msg\":\"stopped\""), std::string::npos);
    EXPECT_EQ(log.find("hunter2"), std::string::npos) << "password leaked into the log";
    EXPECT_EQ(log.find(dev_key_), std::string::npos) << "API key leaked into the log";
    for (std::size_t start = 0, end; (end = log.find('\n', start)) != std::string::npos;
         start = end + 1) {
        EXPECT_TRUE(nlohmann::json::accept(log.substr(start, end - start)))
            << "not a JSON line: " << log.substr(start, end - start);
    }
}

TEST_P(ServiceProcessTest, RelaysOutboxEventsToTheStream) {
    Migrate();
    const std::string stream = "test.events." + commons::RandomHex(6);
    auto port = FreePort();
    auto env = ServiceEnvironment(port);
    env["PAYMENTS_EVENTS_STREAM"] = stream;
    auto service = StartService(env);

    commons::DbSettings db;
    db.url = test_support::DatabaseUrl();
    db.application_name = "service-process-test";
    commons::ConnectionPool pool(db);
    commons::IdGenerator ids;
    commons::Outbox outbox(GetParam().name, ids);
    std::string event_id = commons::WithTransaction(pool, [&](pqxx::dbtransaction& tx) {
        return outbox.Add(tx, GetParam().name + ".test.happened", R"({"n":1})");
    });

    commons::RedisSettings redis_settings;
    redis_settings.url = test_support::RedisUrl();
    commons::RedisClient redis(redis_settings);
    std::string envelope;
    bool arrived = test_support::PollUntil(std::chrono::seconds(30), [&] {
        auto entries = redis.Command({"XRANGE", stream, "-", "+"});
        for (const auto& entry : entries.elements) {
            const auto& fields = entry.elements.at(1).elements;
            for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
                if (fields[i].text == "envelope" &&
                    fields[i + 1].text.find(event_id) != std::string::npos) {
                    envelope = fields[i + 1].text;
                    return true;
                }
            }
        }
        return false;
    });
    redis.Command({"DEL", stream});
    ASSERT_TRUE(arrived) << service->Output();
    auto parsed = nlohmann::json::parse(envelope);
    EXPECT_EQ(parsed["id"], event_id);
    EXPECT_EQ(parsed["source"], GetParam().name);
    EXPECT_EQ(parsed["type"], GetParam().name + ".test.happened");
    EXPECT_EQ(parsed["data"]["n"], 1);
}

// Kubernetes users put secrets in environment variables: with no secrets directory at all,
// every service authenticates with the API keys from PAYMENTS_API_KEYS, also after the key
// store's periodic re-read, and the webhook service verifies Stripe's events with the signing
// secret from PAYMENTS_STRIPE_WEBHOOK_SECRETS.
TEST_P(ServiceProcessTest, ServesWithEverySecretFromTheEnvironmentOnly) {
    Migrate();
    auto port = FreePort();
    auto env = ServiceEnvironment(port);
    env.erase("PAYMENTS_SECRETS_DIR");
    const std::string key = "sk_env_" + commons::RandomHex(16);
    env["PAYMENTS_API_KEYS"] = "key_env " + commons::Sha256Hex(key) + " *";
    const std::string stripe_secret = "whsec_" + commons::RandomHex(16);
    env["PAYMENTS_STRIPE_WEBHOOK_SECRETS"] = stripe_secret;
    auto service = StartService(env);
    const std::vector<std::pair<std::string, std::string>> auth = {
        {"Authorization", "Bearer " + key}};

    auto authenticated = Fetch(port, "GET", "/v1/anything", auth);
    EXPECT_EQ(authenticated.status, 404) << authenticated.body;
    auto forged = Fetch(port, "GET", "/v1/anything", {{"Authorization", "Bearer " + dev_key_}});
    EXPECT_EQ(forged.status, 401) << forged.body;

    if (GetParam().name == "webhook") {
        for (int i = 0; i < 3; ++i) {
            const std::string body = R"({"id":"evt_env_)" + commons::RandomHex(8) +
                                     R"(","object":"event","type":"charge.succeeded"})";
            const std::string t = std::to_string(std::time(nullptr));
            const std::string signature =
                commons::HexEncode(commons::HmacSha256(stripe_secret, t + "." + body));
            auto inbound = Fetch(port, "POST", "/v1/inbound/stripe",
                                 {{"Content-Type", "application/json"},
                                  {"Stripe-Signature", "t=" + t + ",v1=" + signature}},
                                 body);
            EXPECT_EQ(inbound.status, 200) << inbound.body;
        }
    }
    // The key store re-reads its secret every 10 s; keys from the environment still work after.
    const auto reread_after = std::chrono::steady_clock::now() + 11s;
    EXPECT_TRUE(test_support::PollUntil(30s, [&] {
        return std::chrono::steady_clock::now() > reread_after &&
               Fetch(port, "GET", "/v1/anything", auth).status == 404;
    })) << service->Output();
    EXPECT_TRUE(Healthy(port)) << service->Output();
    service->Signal(SIGTERM);
    EXPECT_EQ(service->WaitForExit(30s), 0) << service->Output();
}

TEST_P(ServiceProcessTest, ReadyNamesTheDependencyThatFails) {
    auto port = FreePort();
    auto env = ServiceEnvironment(port);
    env["PAYMENTS_REDIS_URL"] = "redis://127.0.0.1:1/0";
    auto service = StartService(env);
    auto ready = Fetch(port, "GET", "/ready");
    EXPECT_EQ(ready.status, 503);
    auto body = nlohmann::json::parse(ready.body);
    EXPECT_EQ(body["checks"]["database"], "ok");
    EXPECT_NE(body["checks"]["redis"], "ok");
    EXPECT_EQ(Fetch(port, "GET", "/health").status, 200);
}

TEST_P(ServiceProcessTest, MissingConfigVariableStopsStartWithOneLineNamingIt) {
    auto env = ServiceEnvironment(FreePort());
    env.erase("PAYMENTS_DATABASE_URL");
    ChildProcess service(Binary(GetParam().name), {"serve"}, env);
    EXPECT_EQ(service.WaitForExit(30s), 2);
    EXPECT_EQ(service.Output(), GetParam().name +
                                    "-service: configuration error: PAYMENTS_DATABASE_URL: is "
                                    "required but not set\n");
}

TEST_P(ServiceProcessTest, MalformedConfigValueIsRefusedAtStart) {
    auto env = ServiceEnvironment(FreePort());
    env["PORT"] = "eighty";
    ChildProcess service(Binary(GetParam().name), {"serve"}, env);
    EXPECT_EQ(service.WaitForExit(30s), 2);
    EXPECT_NE(service.Output().find("PORT: expected an integer from 0 to 65535, got \"eighty\""),
              std::string::npos)
        << service.Output();
}

TEST_P(ServiceProcessTest, UnknownCommandPrintsUsage) {
    ChildProcess service(Binary(GetParam().name), {"fly"}, ServiceEnvironment(0));
    EXPECT_EQ(service.WaitForExit(30s), 2);
    EXPECT_NE(service.Output().find("usage:"), std::string::npos);
}

TEST(WebhookProcess, ACaFileThatIsNotACertificateStopsStartWithOneLineNamingIt) {
    for (const std::string ca_file : {"/etc/hostname", "/nonexistent/ca.pem"}) {
        auto env = ServiceEnvironment(FreePort());
        env["PAYMENTS_WEBHOOK_CA_FILE"] = ca_file;
        ChildProcess service(Binary("webhook"), {"serve"}, env);
        EXPECT_EQ(service.WaitForExit(30s), 2) << service.Output();
        const std::string output = service.Output();
        const std::string line =
            "webhook-service: configuration error: PAYMENTS_WEBHOOK_CA_FILE: cannot load " +
            ca_file;
        EXPECT_NE(output.find(line), std::string::npos) << output;
        EXPECT_EQ(output.find("terminate"), std::string::npos) << output;
    }
}

INSTANTIATE_TEST_SUITE_P(AllServices, ServiceProcessTest,
                         ::testing::Values(ServiceCase{"ledger"}, ServiceCase{"payin"},
                                           ServiceCase{"payout"}, ServiceCase{"webhook"}),
                         [](const auto& info) { return info.param.name; });

// The ledger's extra command, end to end: money moved through the running service, then
// `ledger-service verify` recomputes the invariants from the journal.
// The ledger's own process tests run in a database of their own: a ledger relay publishes every
// unpublished row of the `ledger` outbox, so two ledgers on one database would take each other's
// events (and the relay test's).
std::map<std::string, std::string> LedgerEnvironment(const test_support::ScratchDatabase& database,
                                                     std::uint16_t port) {
    auto env = ServiceEnvironment(port);
    env["PAYMENTS_DATABASE_URL"] = database.url();
    return env;
}

TEST(LedgerProcess, VerifyCommandChecksWhatTheServiceBooked) {
    test_support::ScratchDatabase database("ledger_proc");
    ChildProcess migrate(Binary("ledger"), {"migrate"}, LedgerEnvironment(database, 0));
    ASSERT_EQ(migrate.WaitForExit(60s), 0) << migrate.Output();
    auto port = FreePort();
    ChildProcess service(Binary("ledger"), {"serve"}, LedgerEnvironment(database, port));
    ASSERT_TRUE(test_support::PollUntil(30s, [&] {
        return Healthy(port) || service.WaitForExit(0ms);
    })) << service.Output();
    const std::string key = test_support::DevstackVariable("PAYMENTS_DEV_API_KEY");
    const std::vector<std::pair<std::string, std::string>> auth = {
        {"Authorization", "Bearer " + key}};
    const std::string suffix = commons::RandomHex(6);
    auto cash =
        Fetch(port, "POST", "/v1/accounts", auth,
              R"({"currency":"USD","normal_balance":"debit","id":"proc_cash_)" + suffix + "\"}");
    ASSERT_EQ(cash.status, 201) << cash.body;
    auto sales =
        Fetch(port, "POST", "/v1/accounts", auth,
              R"({"currency":"USD","normal_balance":"credit","id":"proc_sales_)" + suffix + "\"}");
    ASSERT_EQ(sales.status, 201) << sales.body;
    auto posted =
        Fetch(port, "POST", "/v1/transactions", auth,
              R"({"id":"proc_t_)" + suffix + R"(","entries":[{"account_id":"proc_cash_)" + suffix +
                  R"(","direction":"debit","amount":125},{"account_id":"proc_sales_)" + suffix +
                  R"(","direction":"credit","amount":125}]})");
    ASSERT_EQ(posted.status, 201) << posted.body;
    service.Signal(SIGTERM);
    EXPECT_EQ(service.WaitForExit(30s), 0) << service.Output();

    ChildProcess verify(Binary("ledger"), {"verify"}, LedgerEnvironment(database, 0));
    EXPECT_EQ(verify.WaitForExit(60s), 0) << verify.Output();
    EXPECT_NE(verify.Output().find("\"ok\":true"), std::string::npos) << verify.Output();
}

// Group commit must not weaken durability: a ledger killed with SIGKILL in the middle of load
// has every acknowledged transaction exactly once after a restart, none it refused, and a clean
// verify. Requests cut off by the kill have an unknown outcome; retrying them by id settles it.
TEST(LedgerProcess, KilledMidLoadKeepsEveryAcknowledgedTransactionExactlyOnce) {
    constexpr int kClients = 8;
    constexpr int kAcknowledgedBeforeKill = 300;
    test_support::ScratchDatabase database("ledger_kill");
    ChildProcess migrate(Binary("ledger"), {"migrate"}, LedgerEnvironment(database, 0));
    ASSERT_EQ(migrate.WaitForExit(60s), 0) << migrate.Output();
    const std::string key = test_support::DevstackVariable("PAYMENTS_DEV_API_KEY");
    const std::vector<std::pair<std::string, std::string>> auth = {
        {"Authorization", "Bearer " + key}};
    const std::string suffix = commons::RandomHex(6);
    const std::string source = "kill_src_" + suffix, target = "kill_dst_" + suffix;
    auto body_of = [&](const std::string& id, bool refused) {
        return R"({"id":")" + id + R"(","entries":[{"account_id":")" + source +
               R"(","direction":"debit","amount":3},{"account_id":")" +
               (refused ? "kill_missing_" + suffix : target) +
               R"(","direction":"credit","amount":3}]})";
    };

    auto port = FreePort();
    auto service = std::make_unique<ChildProcess>(
        Binary("ledger"), std::vector<std::string>{"serve"}, LedgerEnvironment(database, port));
    ASSERT_TRUE(test_support::PollUntil(30s, [&] {
        return Healthy(port) || service->WaitForExit(0ms);
    })) << service->Output();
    for (const auto& account : {source, target}) {
        auto reply =
            Fetch(port, "POST", "/v1/accounts", auth,
                  R"({"currency":"USD","normal_balance":"debit","id":")" + account + "\"}");
        ASSERT_EQ(reply.status, 201) << reply.body;
    }

    std::mutex mutex;
    std::vector<std::string> acknowledged, refused, unknown;
    std::atomic<int> acknowledged_count{0};
    std::atomic<bool> killed{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
            for (int i = 0;; ++i) {
                const std::string id =
                    "kill_" + suffix + "_" + std::to_string(c) + "_" + std::to_string(i);
                const bool refuse = i % 4 == 3;
                bool was_killed = killed.load();
                try {
                    auto reply = Fetch(port, "POST", "/v1/transactions", auth, body_of(id, refuse));
                    std::lock_guard lock(mutex);
                    if (reply.status == 201 || reply.status == 200) {
                        acknowledged.push_back(id);
                        ++acknowledged_count;
                    } else if (reply.status == 422) {
                        refused.push_back(id);
                    } else {
                        unknown.push_back(id);  // e.g. 503 while shutting down
                    }
                } catch (const std::runtime_error&) {
                    std::lock_guard lock(mutex);
                    unknown.push_back(id);
                    if (was_killed) return;  // the service is gone: stop this client
                }
                if (was_killed) return;
            }
        });
    }
    ASSERT_TRUE(test_support::PollUntil(
        60s, [&] { return acknowledged_count.load() >= kAcknowledgedBeforeKill; }));
    service->Signal(SIGKILL);
    killed = true;
    EXPECT_TRUE(service->WaitForExit(30s).has_value());
    for (auto& client : clients) client.join();
    service.reset();

    port = FreePort();
    service = std::make_unique<ChildProcess>(Binary("ledger"), std::vector<std::string>{"serve"},
                                             LedgerEnvironment(database, port));
    ASSERT_TRUE(test_support::PollUntil(30s, [&] {
        return Healthy(port) || service->WaitForExit(0ms);
    })) << service->Output();
    for (const auto& id : acknowledged) {
        EXPECT_EQ(Fetch(port, "GET", "/v1/transactions/" + id, auth).status, 200) << id;
    }
    for (const auto& id : refused) {
        EXPECT_EQ(Fetch(port, "GET", "/v1/transactions/" + id, auth).status, 404) << id;
    }
    // A retry settles each unknown outcome: created now (201) or found committed (200).
    int settled = 0;
    for (const auto& id : unknown) {
        const bool refuse = std::stoi(id.substr(id.rfind('_') + 1)) % 4 == 3;
        auto reply = Fetch(port, "POST", "/v1/transactions", auth, body_of(id, refuse));
        EXPECT_EQ(reply.status == 422, refuse) << id << " " << reply.body;
        EXPECT_TRUE(reply.status == 201 || reply.status == 200 || reply.status == 422)
            << id << reply.body;
        if (reply.status != 422) ++settled;
    }
    std::printf("[kill test] %zu acknowledged, %zu refused, %zu unknown before the kill\n",
                acknowledged.size(), refused.size(), unknown.size());
    auto target_account =
        nlohmann::json::parse(Fetch(port, "GET", "/v1/accounts/" + target, auth).body);
    const std::int64_t expected = 3 * static_cast<std::int64_t>(acknowledged.size() + settled);
    EXPECT_EQ(target_account["balances"]["posted_credits"].get<std::int64_t>(), expected)
        << acknowledged.size() << " acknowledged, " << settled << " settled after the restart";
    service->Signal(SIGTERM);
    EXPECT_EQ(service->WaitForExit(30s), 0) << service->Output();

    ChildProcess verify(Binary("ledger"), {"verify"}, LedgerEnvironment(database, 0));
    EXPECT_EQ(verify.WaitForExit(120s), 0) << verify.Output();
    EXPECT_NE(verify.Output().find("\"ok\":true"), std::string::npos) << verify.Output();
}

// ---- The webhook service: PostgreSQL is the truth ----
//
// Each test runs webhook services as processes on a database and a stream of its own, with a
// local receiver. The receiver notices a delivery that arrives while the same one is still being
// handled, which is what "never in flight twice at once" forbids.

std::map<std::string, std::string> WebhookEnvironment(const test_support::ScratchDatabase& database,
                                                      std::uint16_t port, const std::string& stream,
                                                      const std::string& redis_url) {
    auto env = ServiceEnvironment(port);
    env["PAYMENTS_DATABASE_URL"] = database.url();
    env["PAYMENTS_REDIS_URL"] = redis_url;
    env["PAYMENTS_EVENTS_STREAM"] = stream;
    env["PAYMENTS_WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "1";
    env["PAYMENTS_WEBHOOK_ALLOW_HTTP"] = "1";
    env["PAYMENTS_WEBHOOK_REQUEST_TIMEOUT"] = "2s";
    env["PAYMENTS_WEBHOOK_LEASE"] = "4s";
    env["PAYMENTS_WEBHOOK_POLL_INTERVAL"] = "100ms";
    env["PAYMENTS_WEBHOOK_CONSUMER_CLAIM_IDLE"] = "3s";
    env["PAYMENTS_LOG_LEVEL"] = "warn";
    return env;
}

class WebhookProcessTest : public ::testing::Test {
  protected:
    ~WebhookProcessTest() override {
        gate_.Open();
        try {
            commons::RedisClient redis(RedisAt(test_support::RedisUrl()));
            redis.Command({"DEL", stream_});
        } catch (const std::exception&) {
        }
    }

    std::unique_ptr<ChildProcess> Start(std::uint16_t port, const std::string& redis_url) {
        auto env = WebhookEnvironment(database_, port, stream_, redis_url);
        if (!migrated_) {
            ChildProcess migrate(Binary("webhook"), {"migrate"}, env);
            EXPECT_EQ(migrate.WaitForExit(60s), 0) << migrate.Output();
            migrated_ = true;
        }
        auto service = std::make_unique<ChildProcess>(Binary("webhook"),
                                                      std::vector<std::string>{"serve"}, env);
        EXPECT_TRUE(test_support::PollUntil(30s, [&] {
            return Healthy(port) || service->WaitForExit(0ms).has_value();
        })) << service->Output();
        return service;
    }

    std::string CreateEndpoint(std::uint16_t port, const std::string& name) {
        auto reply =
            Fetch(port, "POST", "/v1/endpoints", auth_,
                  nlohmann::json{{"url", receiver_.Url(name)}, {"event_types", {"*"}}}.dump());
        EXPECT_EQ(reply.status, 201) << reply.body;
        return nlohmann::json::parse(reply.body).value("id", "");
    }

    // Publishes `count` events to the stream as a service's relay would.
    std::vector<std::string> Publish(commons::RedisClient& redis, int count) {
        std::vector<std::string> ids;
        for (int i = 0; i < count; ++i) {
            commons::Event event;
            event.id = ids_.Next("evt");
            event.type = "orders.order.created";
            event.source = "orders";
            event.created = 1'700'000'000;
            event.data_json = R"({"n":)" + std::to_string(i) + "}";
            auto reply =
                redis.Command({"XADD", stream_, "*", "id", event.id, "type", event.type, "source",
                               event.source, "envelope", commons::FormatEnvelope(event)});
            EXPECT_FALSE(reply.is_error()) << reply.text;
            ids.push_back(event.id);
        }
        return ids;
    }

    std::int64_t Scalar(const std::string& sql) {
        commons::DbSettings settings;
        settings.url = database_.url();
        settings.pool_size = 1;
        commons::ConnectionPool pool(settings);
        return commons::WithTransaction(
            pool, [&](pqxx::dbtransaction& tx) { return tx.exec1(sql)[0].as<std::int64_t>(); });
    }

    static commons::RedisSettings RedisAt(const std::string& url) {
        commons::RedisSettings settings;
        settings.url = url;
        settings.pool_size = 2;
        return settings;
    }

    test_support::ScratchDatabase database_{"webhook_proc"};
    std::string stream_ = "webhook.proc." + commons::RandomHex(6);
    commons::IdGenerator ids_;
    bool migrated_ = false;
    const std::vector<std::pair<std::string, std::string>> auth_ = {
        {"Authorization", "Bearer " + test_support::DevstackVariable("PAYMENTS_DEV_API_KEY")}};
    // What the receiver's responders use: members, so they outlive every request.
    test_support::Gate gate_;
    std::atomic<bool> holding_{false};
    test_support::WebhookReceiver receiver_{64};
};

TEST_F(WebhookProcessTest, BadDeliverySettingsStopStartWithOneLineNamingThem) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"PAYMENTS_WEBHOOK_RETRY_SCHEDULE", "5s,,1m"},
        {"PAYMENTS_WEBHOOK_RETRY_SCHEDULE", "30d"},
        {"PAYMENTS_WEBHOOK_LEASE", "1s"},  // not above the 2 s request timeout
        {"PAYMENTS_WEBHOOK_CONCURRENCY", "0"},
    };
    for (const auto& [name, value] : cases) {
        auto env = WebhookEnvironment(database_, FreePort(), stream_, test_support::RedisUrl());
        env[name] = value;
        ChildProcess service(Binary("webhook"), {"serve"}, env);
        EXPECT_EQ(service.WaitForExit(30s), 2) << name << "=" << value << ": " << service.Output();
        EXPECT_NE(service.Output().find(name), std::string::npos) << service.Output();
    }
}

TEST_F(WebhookProcessTest, KilledWhileDeliveringLosesNoDeliveryAndNeverRunsOneTwiceAtOnce) {
    // The receiver holds the first requests until the service has been killed, so deliveries
    // are certainly in flight at the kill.
    holding_ = true;
    receiver_.SetResponder([this](const auto&) {
        if (holding_) gate_.Wait();
        return commons::http::Response::Text(200, "ok", "text/plain");
    });
    commons::RedisClient redis(RedisAt(test_support::RedisUrl()));
    const auto port = FreePort();
    auto service = Start(port, test_support::RedisUrl());
    CreateEndpoint(port, "a");
    CreateEndpoint(port, "b");
    const auto events = Publish(redis, 200);
    ASSERT_TRUE(gate_.WaitForWaiters(32, 60s));
    service->Signal(SIGKILL);
    ASSERT_EQ(service->WaitForExit(10s), 128 + SIGKILL);
    const std::size_t before_restart = receiver_.Distinct().size();
    holding_ = false;
    gate_.Open();
    service = Start(port, test_support::RedisUrl());
    ASSERT_TRUE(test_support::PollUntil(120s, [&] { return receiver_.Distinct().size() == 400; }))
        << receiver_.Distinct().size() << " of 400 delivered; " << service->Output();
    for (const auto& id : events) {
        EXPECT_EQ(receiver_.Distinct().count({"a", id}), 1u) << id;
        EXPECT_EQ(receiver_.Distinct().count({"b", id}), 1u) << id;
    }
    EXPECT_EQ(receiver_.overlaps(), 0);
    ASSERT_TRUE(test_support::PollUntil(30s, [&] {
        return Scalar("SELECT count(*) FROM webhook.deliveries WHERE status <> 'succeeded'") == 0;
    }));
    std::printf("[webhook kill test] %zu of 400 in flight at the kill, %zu requests in all\n",
                before_restart, receiver_.Total());
    service->Signal(SIGTERM);
    EXPECT_EQ(service->WaitForExit(30s), 0) << service->Output();
}

TEST_F(WebhookProcessTest, RedisRestartDelaysNothingAlreadyStoredAndLosesNothingAfter) {
    test_support::PrivateRedis private_redis;
    const auto port = FreePort();
    auto service = Start(port, private_redis.url());
    CreateEndpoint(port, "r");
    {
        commons::RedisClient redis(RedisAt(private_redis.url()));
        Publish(redis, 50);
    }
    ASSERT_TRUE(test_support::PollUntil(60s, [&] { return receiver_.Distinct().size() == 50; }));
    ASSERT_TRUE(private_redis.Kill());
    // Redis is gone: events published straight to the service are stored and delivered anyway.
    for (int i = 0; i < 20; ++i) {
        auto reply =
            Fetch(port, "POST", "/v1/events", auth_,
                  R"({"type":"orders.order.created","data":{"direct":)" + std::to_string(i) + "}}");
        ASSERT_EQ(reply.status, 201) << reply.body;
    }
    ASSERT_TRUE(test_support::PollUntil(60s, [&] { return receiver_.Distinct().size() == 70; }));
    // Redis comes back empty; the consumer group is made again and new events flow.
    private_redis.Start();
    {
        commons::RedisClient redis(RedisAt(private_redis.url()));
        Publish(redis, 50);
    }
    ASSERT_TRUE(test_support::PollUntil(60s, [&] { return receiver_.Distinct().size() == 120; }))
        << receiver_.Distinct().size() << " of 120; " << service->Output();
    EXPECT_EQ(receiver_.overlaps(), 0);
    service->Signal(SIGTERM);
    EXPECT_EQ(service->WaitForExit(30s), 0) << service->Output();
}

TEST_F(WebhookProcessTest, TwoReplicasShareTheWorkWithoutSendingADeliveryTwiceAtOnce) {
    commons::RedisClient redis(RedisAt(test_support::RedisUrl()));
    const auto port_a = FreePort();
    auto a = Start(port_a, test_support::RedisUrl());
    const auto port_b = FreePort();
    auto b = Start(port_b, test_support::RedisUrl());
    CreateEndpoint(port_a, "one");
    CreateEndpoint(port_b, "two");
    Publish(redis, 300);
    ASSERT_TRUE(test_support::PollUntil(120s, [&] { return receiver_.Distinct().size() == 600; }))
        << receiver_.Distinct().size() << " of 600";
    EXPECT_EQ(receiver_.overlaps(), 0);
    EXPECT_EQ(Scalar("SELECT count(*) FROM webhook.events"), 300);
    ASSERT_TRUE(test_support::PollUntil(30s, [&] {
        return Scalar("SELECT count(*) FROM webhook.deliveries WHERE status = 'succeeded'") == 600;
    }));
    // Both consumed from the stream.
    auto consumers = redis.Command({"XINFO", "CONSUMERS", stream_, "webhook"});
    EXPECT_EQ(consumers.elements.size(), 2u);
    std::printf("[webhook replicas test] %zu requests for 600 deliveries\n", receiver_.Total());
    a->Signal(SIGTERM);
    b->Signal(SIGTERM);
    EXPECT_EQ(a->WaitForExit(30s), 0) << a->Output();
    EXPECT_EQ(b->WaitForExit(30s), 0) << b->Output();
}

}  // namespace
