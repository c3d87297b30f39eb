#pragma once

// A ledger served in-process over real HTTP, on a schema of its own in the devstack PostgreSQL.

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
#include "commons/secrets.hpp"
#include "ledger/api/routes.hpp"
#include "ledger/app/ledger.hpp"
#include "ledger/store/pg_ledger_store.hpp"
#include "middleware/auth.hpp"
#include "middleware/pipeline.hpp"
#include "middleware/rate_limit.hpp"
#include "middleware/telemetry.hpp"
#include "support/commons_migrations.hpp"
#include "support/devstack.hpp"
#include "support/http_client.hpp"

namespace ledger::testing {

using nlohmann::json;

inline constexpr const char* kWriterKey = "sk_test_ledger_writer_0123456789";
inline constexpr const char* kReaderKey = "sk_test_ledger_reader_0123456789";

class LedgerFixture : public ::testing::Test {
  protected:
    LedgerFixture() {
        std::filesystem::create_directories(secrets_dir_);
        std::ofstream(secrets_dir_ / "api-keys")
            << "key_writer " << commons::Sha256Hex(kWriterKey)
            << " ledger:read,ledger:write,ledger:admin\n"
            << "key_reader " << commons::Sha256Hex(kReaderKey) << " ledger:read\n";
        commons::DbSettings db;
        db.url = test_support::DatabaseUrl();
        db.application_name = "ledger-test";
        db.pool_size = 12;
        pool_ = std::make_unique<commons::ConnectionPool>(db);
        commons::ApplyMigrations(*pool_, schema_, test_support::ServiceMigrations("ledger"),
                                 logger_);
        outbox_ = std::make_unique<commons::Outbox>(schema_, ids_, "ledger");
        store_ = std::make_unique<store::PgLedgerStore>(*pool_, schema_, *outbox_);
        ledger_ = std::make_unique<app::Ledger>(*store_, ids_, logger_, metrics_, [this] {
            return app::SystemMicros() + clock_offset_micros_.load();
        });
        api_keys_ =
            std::make_unique<middleware::ApiKeyStore>(secrets_, logger_, std::chrono::seconds(10));
        api::AddRoutes(*ledger_, router_);
        commons::http::ServerSettings settings;
        settings.address = "127.0.0.1";
        server_ = std::make_unique<commons::http::Server>(
            settings, router_,
            middleware::StandardPipeline(
                {ids_, logger_, request_metrics_, *api_keys_, rate_limiter_, nullptr}),
            blocking_pool_, logger_);
        port_ = server_->Start();
    }

    ~LedgerFixture() override {
        server_->Stop();
        ledger_.reset();
        commons::WithTransaction(*pool_, [this](pqxx::dbtransaction& tx) {
            tx.exec0("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
        });
        std::filesystem::remove_all(secrets_dir_);
    }

    test_support::HttpReply Call(const std::string& method, const std::string& target,
                                 const std::string& body = "", const char* key = kWriterKey) {
        std::vector<std::pair<std::string, std::string>> headers = {
            {"Authorization", std::string("Bearer ") + key}};
        if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
        return test_support::Fetch(port_, method, target, headers, body);
    }
    test_support::HttpReply Post(const std::string& target, const json& body) {
        return Call("POST", target, body.dump());
    }
    json GetJson(const std::string& target) {
        auto reply = Call("GET", target);
        EXPECT_EQ(reply.status, 200) << target << ": " << reply.body;
        return json::parse(reply.body);
    }

    // Creates an account; flags: "" or one of the two flag names.
    json Account(const std::string& id, const std::string& currency = "USD",
                 const std::string& side = "debit", const std::string& flag = "") {
        json body{{"id", id}, {"currency", currency}, {"normal_balance", side}};
        if (!flag.empty()) body["flags"] = {{flag, true}};
        auto reply = Post("/v1/accounts", body);
        EXPECT_EQ(reply.status, 201) << reply.body;
        return json::parse(reply.body);
    }

    static json Transfer(const std::string& id, const std::string& from, const std::string& to,
                         std::int64_t amount) {
        return {{"id", id},
                {"entries",
                 {{{"account_id", from}, {"direction", "debit"}, {"amount", amount}},
                  {{"account_id", to}, {"direction", "credit"}, {"amount", amount}}}}};
    }

    json Balances(const std::string& account) {
        return GetJson("/v1/accounts/" + account)["balances"];
    }

    static std::string ErrorCode(const test_support::HttpReply& reply) {
        auto body = json::parse(reply.body, nullptr, false);
        if (body.is_discarded() || !body.contains("error")) return "<no error: " + reply.body + ">";
        return body["error"].value("code", "");
    }

    json Verify() { return GetJson("/v1/verify"); }

    std::string schema_ = "ledger_t_" + commons::RandomHex(6);
    std::filesystem::path secrets_dir_ =
        std::filesystem::temp_directory_path() / ("ledger-secrets-" + commons::RandomHex(6));
    commons::MapEnvironment env_;
    commons::SecretStore secrets_{secrets_dir_, env_};
    commons::Logger logger_{"ledger-test", stderr, commons::LogLevel::kError};
    commons::Metrics metrics_;
    commons::IdGenerator ids_;
    middleware::RequestMetrics request_metrics_{"ledger-test", metrics_};
    middleware::RateLimiter rate_limiter_{middleware::RateLimitSettings{0, 1, 1000}};
    std::atomic<std::int64_t> clock_offset_micros_{0};
    std::unique_ptr<commons::ConnectionPool> pool_;
    std::unique_ptr<commons::Outbox> outbox_;
    std::unique_ptr<store::PgLedgerStore> store_;
    std::unique_ptr<app::Ledger> ledger_;
    std::unique_ptr<middleware::ApiKeyStore> api_keys_;
    commons::BlockingPool blocking_pool_{12, 256};
    commons::http::Router router_;
    std::unique_ptr<commons::http::Server> server_;
    std::uint16_t port_ = 0;
};

}  // namespace ledger::testing
