#pragma once

// The webhook service assembled in-process on a schema of its own in the devstack PostgreSQL,
// with an injected clock (tests move time instead of sleeping through retry schedules), a
// stream of its own in the devstack Redis, and a local receiver for deliveries.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "commons/blocking_pool.hpp"
#include "commons/crypto.hpp"
#include "commons/db.hpp"
#include "commons/db_transaction.hpp"
#include "commons/events.hpp"
#include "commons/http/server.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "commons/migrations.hpp"
#include "commons/redis.hpp"
#include "commons/secrets.hpp"
#include "middleware/auth.hpp"
#include "middleware/idempotency.hpp"
#include "middleware/pipeline.hpp"
#include "middleware/rate_limit.hpp"
#include "middleware/telemetry.hpp"
#include "support/commons_migrations.hpp"
#include "support/devstack.hpp"
#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/webhook_receiver.hpp"
#include "webhook/api/routes.hpp"
#include "webhook/app/delivery_engine.hpp"
#include "webhook/app/intake.hpp"
#include "webhook/domain/signatures.hpp"
#include "webhook/store/webhook_store.hpp"

namespace webhook::testing {

using nlohmann::json;
using namespace std::chrono_literals;

inline constexpr const char* kAdminKey = "sk_test_webhook_admin_0123456789";
inline constexpr const char* kOtherKey = "sk_test_webhook_other_0123456789";
inline constexpr const char* kStripeSecret = "whsec_test_secret_for_payments_platform";
inline constexpr const char* kStripeOldSecret = "whsec_previous_secret_still_accepted";
inline constexpr domain::Micros kRetentionUs = 30LL * 24 * 3600 * domain::kMicrosPerSecond;

class WebhookFixture : public ::testing::Test {
  protected:
    WebhookFixture() {
        std::filesystem::create_directories(secrets_dir_);
        std::ofstream(secrets_dir_ / "api-keys")
            << "key_admin " << commons::Sha256Hex(kAdminKey) << " webhook:admin\n"
            << "key_other " << commons::Sha256Hex(kOtherKey) << " ledger:read\n";
        std::ofstream(secrets_dir_ / "stripe-webhook-secrets")
            << "# current, then the one being rotated out\n"
            << kStripeSecret << "\n"
            << kStripeOldSecret << "\n";
        commons::DbSettings db;
        db.url = test_support::DatabaseUrl();
        db.application_name = "webhook-test";
        db.pool_size = 12;
        pool_ = std::make_unique<commons::ConnectionPool>(db);
        commons::ApplyMigrations(*pool_, schema_, test_support::ServiceMigrations("webhook"),
                                 logger_);
        commons::RedisSettings redis;
        redis.url = test_support::RedisUrl();
        redis_ = std::make_unique<commons::RedisClient>(redis);
        outbox_ = std::make_unique<commons::Outbox>(schema_, ids_, "webhook");
        store_ = std::make_unique<store::PgWebhookStore>(*pool_, schema_, *outbox_, ids_);
        app::EngineSettings engine;
        engine.senders = 16;
        engine.allow_private_targets = true;
        engine.poll_interval = 50ms;
        engine.request_timeout = 5s;
        engine.lease = 10s;
        engine.record.health.circuit_failures = 3;
        engine.record.health.circuit_cooldown = 30s;
        engine_ =
            std::make_unique<app::DeliveryEngine>(*store_, engine, Clock(), logger_, metrics_);
        intake_ = std::make_unique<app::EventIntake>(*store_, *engine_, Clock());
        handlers_.Register("payment_intent.*", "test_payments", [this](const auto& event) {
            handled_.fetch_add(1);
            if (fail_handler_.exchange(false)) throw std::runtime_error("handler failed once");
            std::lock_guard lock(handled_mutex_);
            handled_ids_.push_back(event.id);
        });
        inbound_ = std::make_unique<app::InboundWorker>(*store_, handlers_, Clock(), logger_, 50ms);
        api_keys_ =
            std::make_unique<middleware::ApiKeyStore>(secrets_, logger_, std::chrono::seconds(10));
        middleware::IdempotencySettings idempotency;
        idempotency_ =
            std::make_unique<middleware::IdempotencyStore>(*pool_, schema_, idempotency, logger_);
        api::AddRoutes({.store = *store_,
                        .engine = *engine_,
                        .inbound = *inbound_,
                        .secrets = secrets_,
                        .ids = ids_,
                        .clock = Clock(),
                        .allow_http = true,
                        .allow_private_targets = true,
                        .retention_us = kRetentionUs},
                       router_);
        commons::http::ServerSettings settings;
        settings.address = "127.0.0.1";
        server_ = std::make_unique<commons::http::Server>(
            settings, router_,
            middleware::StandardPipeline({ids_,
                                          logger_,
                                          request_metrics_,
                                          *api_keys_,
                                          rate_limiter_,
                                          idempotency_.get(),
                                          {api::kInboundPrefix}}),
            blocking_pool_, logger_);
        port_ = server_->Start();
        engine_->Start();
        inbound_->Start();
    }

    // The references and the uniqueness the schema no longer enforces (migrations 003 and 005)
    // hold after every test.
    void TearDown() override {
        EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ +
                         ".deliveries d WHERE NOT EXISTS "
                         "(SELECT 1 FROM " +
                         schema_ +
                         ".events e WHERE e.id = d.event_id) OR "
                         "NOT EXISTS (SELECT 1 FROM " +
                         schema_ + ".endpoints p WHERE p.id = d.endpoint_id)"),
                  0)
            << "deliveries without their event or endpoint";
        EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ +
                         ".attempts a WHERE NOT EXISTS "
                         "(SELECT 1 FROM " +
                         schema_ + ".deliveries d WHERE d.id = a.delivery_id)"),
                  0)
            << "attempts without their delivery";
        EXPECT_EQ(Scalar("SELECT count(*) FROM (SELECT 1 FROM " + schema_ +
                         ".deliveries GROUP BY endpoint_id, event_id HAVING count(*) > 1) AS d"),
                  0)
            << "an endpoint with two deliveries of one event (migration 005)";
    }

    ~WebhookFixture() override {
        gate_.Open();
        server_->Stop();
        if (consumer_) consumer_->Stop();
        inbound_->Stop();
        engine_->Stop();
        commons::WithTransaction(*pool_, [this](pqxx::dbtransaction& tx) {
            tx.exec0("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
        });
        try {
            redis_->Command({"DEL", stream_});
        } catch (const std::exception&) {
        }
        std::filesystem::remove_all(secrets_dir_);
    }

    // The system clock plus what Advance() added; after Freeze(), time moves only by Advance().
    std::function<domain::Micros()> Clock() {
        return [this] {
            const domain::Micros frozen = frozen_at_us_.load();
            return (frozen != 0 ? frozen : app::SystemMicros()) + clock_offset_us_.load();
        };
    }
    void Freeze() { frozen_at_us_ = app::SystemMicros(); }
    domain::Micros Now() { return Clock()(); }
    // Moves the injected clock forward and lets the engine look at once.
    void Advance(std::chrono::milliseconds by) {
        clock_offset_us_ += static_cast<domain::Micros>(by.count()) * 1000;
        engine_->Wake();
        inbound_->Wake();
    }

    // Reads the test's stream into the intake, as the service does.
    void StartConsumer() {
        commons::ConsumerSettings settings;
        settings.stream = stream_;
        settings.group = "webhook";
        settings.consumer = commons::ConsumerName("webhook-test");
        settings.block = 200ms;
        consumer_ = std::make_unique<commons::StreamConsumer>(*redis_, settings, logger_, metrics_);
        consumer_->StartBatch(
            [this](const std::vector<commons::Event>& events) { intake_->Add(events); });
    }
    void AddToStream(const commons::Event& event) {
        auto reply =
            redis_->Command({"XADD", stream_, "*", "id", event.id, "type", event.type, "source",
                             event.source, "envelope", commons::FormatEnvelope(event)});
        ASSERT_FALSE(reply.is_error()) << reply.text;
    }

    test_support::HttpReply Call(const std::string& method, const std::string& target,
                                 const std::string& body = "", const char* key = kAdminKey,
                                 std::vector<std::pair<std::string, std::string>> extra = {}) {
        std::vector<std::pair<std::string, std::string>> headers = std::move(extra);
        if (key != nullptr) headers.emplace_back("Authorization", std::string("Bearer ") + key);
        if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
        return test_support::Fetch(port_, method, target, headers, body);
    }
    json Ok(const std::string& method, const std::string& target, const json& body = nullptr,
            int status = 200) {
        auto reply = Call(method, target, body.is_null() ? "" : body.dump());
        EXPECT_EQ(reply.status, status) << method << " " << target << ": " << reply.body;
        auto parsed = json::parse(reply.body, nullptr, false);
        return parsed.is_discarded() ? json() : parsed;
    }
    static std::string ErrorCode(const test_support::HttpReply& reply) {
        auto body = json::parse(reply.body, nullptr, false);
        if (body.is_discarded() || !body.contains("error")) return "<no error: " + reply.body + ">";
        return body["error"].value("code", "");
    }

    // Creates an endpoint at the receiver's /hooks/<name>.
    json Endpoint(const std::string& name, json types = json::array({"*"}),
                  json extra = json::object()) {
        json body{{"url", receiver_.Url(name)}, {"event_types", std::move(types)}};
        for (auto& [key, value] : extra.items()) body[key] = value;
        return Ok("POST", "/v1/endpoints", body, 201);
    }
    json Publish(const std::string& type, json data = json::object()) {
        return Ok("POST", "/v1/events", {{"type", type}, {"data", std::move(data)}}, 201);
    }
    json Delivery(const std::string& event_id, const std::string& endpoint_id) {
        auto id = commons::WithTransaction(*pool_, [&](pqxx::dbtransaction& tx) {
            return tx
                .exec_params1("SELECT id FROM " + schema_ +
                                  ".deliveries WHERE event_id = $1 AND endpoint_id = $2",
                              event_id, endpoint_id)[0]
                .as<std::string>();
        });
        return Ok("GET", "/v1/deliveries/" + id);
    }
    std::int64_t Scalar(const std::string& sql) {
        return commons::WithTransaction(
            *pool_, [&](pqxx::dbtransaction& tx) { return tx.exec1(sql)[0].as<std::int64_t>(); });
    }
    bool WaitFor(std::chrono::milliseconds timeout, const std::function<bool()>& condition) {
        return test_support::PollUntil(timeout, condition);
    }

    std::string schema_ = "webhook_t_" + commons::RandomHex(6);
    std::string stream_ = "webhook.test." + commons::RandomHex(6);
    std::filesystem::path secrets_dir_ =
        std::filesystem::temp_directory_path() / ("webhook-secrets-" + commons::RandomHex(6));
    commons::MapEnvironment env_;
    commons::SecretStore secrets_{secrets_dir_, env_};
    commons::Logger logger_{"webhook-test", stderr, commons::LogLevel::kError};
    commons::Metrics metrics_;
    commons::IdGenerator ids_;
    middleware::RequestMetrics request_metrics_{"webhook-test", metrics_};
    middleware::RateLimiter rate_limiter_{middleware::RateLimitSettings{0, 1, 1000}};
    std::atomic<domain::Micros> clock_offset_us_{0};
    std::atomic<domain::Micros> frozen_at_us_{0};
    // State the receiver's responders use: members, so they outlive every request.
    std::atomic<int> calls_{0};
    std::atomic<bool> healthy_{false};
    test_support::Gate gate_;
    test_support::WebhookReceiver receiver_;
    std::unique_ptr<commons::ConnectionPool> pool_;
    std::unique_ptr<commons::RedisClient> redis_;
    std::unique_ptr<commons::Outbox> outbox_;
    std::unique_ptr<store::PgWebhookStore> store_;
    std::unique_ptr<app::DeliveryEngine> engine_;
    std::unique_ptr<app::EventIntake> intake_;
    app::InboundHandlers handlers_;
    std::atomic<int> handled_{0};
    std::atomic<bool> fail_handler_{false};
    std::mutex handled_mutex_;
    std::vector<std::string> handled_ids_;
    std::unique_ptr<app::InboundWorker> inbound_;
    std::unique_ptr<commons::StreamConsumer> consumer_;
    std::unique_ptr<middleware::ApiKeyStore> api_keys_;
    std::unique_ptr<middleware::IdempotencyStore> idempotency_;
    commons::BlockingPool blocking_pool_{12, 256};
    commons::http::Router router_;
    std::unique_ptr<commons::http::Server> server_;
    std::uint16_t port_ = 0;
};

}  // namespace webhook::testing
