// The standard pipeline end to end: a real HTTP server, real PostgreSQL for idempotency keys.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commons/blocking_pool.hpp"
#include "commons/crypto.hpp"
#include "commons/db.hpp"
#include "commons/db_transaction.hpp"
#include "commons/http/server.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "commons/migrations.hpp"
#include "commons/secrets.hpp"
#include "middleware/auth.hpp"
#include "middleware/idempotency.hpp"
#include "middleware/pipeline.hpp"
#include "middleware/rate_limit.hpp"
#include "middleware/telemetry.hpp"
#include "support/commons_migrations.hpp"
#include "support/devstack.hpp"
#include "support/http_client.hpp"
#include "support/temp_dir.hpp"

namespace middleware {
namespace {

using commons::http::Method;
using commons::http::Request;
using commons::http::Response;
using test_support::Fetch;

constexpr const char* kWriterKey = "sk_test_writer_0123456789";
constexpr const char* kReaderKey = "sk_test_reader_0123456789";

class PipelineIntegrationTest : public ::testing::Test {
  protected:
    PipelineIntegrationTest() {
        std::filesystem::create_directories(secrets_dir_);
        std::ofstream(secrets_dir_ / "api-keys")
            << "key_writer " << commons::Sha256Hex(kWriterKey) << " things:write,things:read\n"
            << "key_reader " << commons::Sha256Hex(kReaderKey) << " things:read\n";

        commons::DbSettings db;
        db.url = test_support::DatabaseUrl();
        db.application_name = "pipeline-test";
        db.pool_size = 8;
        pool_ = std::make_unique<commons::ConnectionPool>(db);
        commons::ApplyMigrations(*pool_, schema_, test_support::CommonsMigrations(), logger_);
        idempotency_ =
            std::make_unique<IdempotencyStore>(*pool_, schema_, IdempotencySettings{}, logger_);
        api_keys_ = std::make_unique<ApiKeyStore>(secrets_, logger_, std::chrono::seconds(10));

        router_.Add(
            Method::kPost, "/v1/things",
            [this](Request& request) {
                int n = ++created_;
                return Response::Json(
                    201, nlohmann::json{{"id", "th_" + std::to_string(n)}, {"body", request.body}}
                             .dump());
            },
            commons::http::RouteOptions{commons::http::Execution::kBlocking, "things:write"});
        router_.Add(
            Method::kGet, "/v1/things",
            [](Request&) { return Response::Json(200, R"({"object":"list","data":[]})"); },
            commons::http::RouteOptions{commons::http::Execution::kBlocking, "things:read"});

        commons::http::ServerSettings settings;
        settings.address = "127.0.0.1";
        server_ = std::make_unique<commons::http::Server>(
            settings, router_,
            StandardPipeline(
                {ids_, logger_, request_metrics_, *api_keys_, rate_limiter_, idempotency_.get()}),
            blocking_pool_, logger_);
        port_ = server_->Start();
    }

    ~PipelineIntegrationTest() override {
        server_->Stop();
        idempotency_.reset();
        commons::WithTransaction(*pool_, [this](pqxx::dbtransaction& tx) {
            tx.exec0("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
        });
        std::filesystem::remove_all(secrets_dir_);
    }

    test_support::HttpReply Post(const std::string& key, const std::string& idempotency_key,
                                 const std::string& body) {
        std::vector<std::pair<std::string, std::string>> headers = {
            {"Authorization", std::string("Bearer ") + key}, {"Content-Type", "application/json"}};
        if (!idempotency_key.empty()) headers.emplace_back("Idempotency-Key", idempotency_key);
        return Fetch(port_, "POST", "/v1/things", headers, body);
    }

    std::string schema_ = "pipe_test_" + commons::RandomHex(6);
    std::filesystem::path secrets_dir_ =
        std::filesystem::temp_directory_path() / ("pipeline-secrets-" + commons::RandomHex(6));
    commons::MapEnvironment env_;
    commons::SecretStore secrets_{secrets_dir_, env_};
    commons::Logger logger_{"test", stderr, commons::LogLevel::kError};
    commons::Metrics metrics_;
    commons::IdGenerator ids_;
    RequestMetrics request_metrics_{"test", metrics_};
    RateLimiter rate_limiter_{RateLimitSettings{/*tokens_per_second=*/0.001, /*burst=*/20, 100}};
    std::unique_ptr<commons::ConnectionPool> pool_;
    std::unique_ptr<IdempotencyStore> idempotency_;
    std::unique_ptr<ApiKeyStore> api_keys_;
    commons::BlockingPool blocking_pool_{4, 64};
    commons::http::Router router_;
    std::unique_ptr<commons::http::Server> server_;
    std::uint16_t port_ = 0;
    std::atomic<int> created_{0};
};

TEST_F(PipelineIntegrationTest, ReplaysOverHttpWithHeadersAndFreshRequestIds) {
    auto first = Post(kWriterKey, "order-1", R"({"amount": 5})");
    auto second = Post(kWriterKey, "order-1", "{\"amount\":5}");
    EXPECT_EQ(first.status, 201);
    EXPECT_EQ(second.status, 201);
    EXPECT_EQ(second.body, first.body);
    EXPECT_EQ(second.Header("idempotent-replayed"), "true");
    ASSERT_TRUE(first.Header("x-request-id") && second.Header("x-request-id"));
    EXPECT_NE(*first.Header("x-request-id"), *second.Header("x-request-id"));
    EXPECT_EQ(created_, 1);
    auto reused = Post(kWriterKey, "order-1", R"({"amount": 6})");
    EXPECT_EQ(reused.status, 400);
    EXPECT_EQ(created_, 1);
}

TEST_F(PipelineIntegrationTest, AuthenticationAndScopesComeBeforeIdempotency) {
    auto anonymous = Fetch(port_, "POST", "/v1/things", {{"Idempotency-Key", "order-2"}}, "{}");
    EXPECT_EQ(anonymous.status, 401);
    auto reader = Post(kReaderKey, "order-2", "{}");
    EXPECT_EQ(reader.status, 403);
    EXPECT_EQ(nlohmann::json::parse(reader.body)["error"]["code"], "insufficient_scope");
    // Neither refusal consumed the key.
    auto writer = Post(kWriterKey, "order-2", "{}");
    EXPECT_EQ(writer.status, 201);
    EXPECT_FALSE(writer.Header("idempotent-replayed"));
    auto read =
        Fetch(port_, "GET", "/v1/things", {{"Authorization", std::string("Bearer ") + kReaderKey}});
    EXPECT_EQ(read.status, 200);
}

TEST_F(PipelineIntegrationTest, ForgedAndMalformedAuthorizationHeadersAre401) {
    for (std::string header :
         {std::string("Bearer"), std::string("Bearer "),
          std::string("Bearer sk_test_writer_012345678"),  // one char short
          std::string("Bearer ") + kWriterKey + "x", std::string("Basic ") + kWriterKey,
          std::string("bearer\t") + kWriterKey, std::string("Bearer ") + std::string(10'000, 'a'),
          std::string("Bearer \xff\xfe")}) {
        auto reply = Fetch(port_, "GET", "/v1/things", {{"Authorization", header}});
        EXPECT_EQ(reply.status, 401) << header.substr(0, 40);
        EXPECT_EQ(nlohmann::json::parse(reply.body)["error"]["type"], "authentication_error");
    }
}

TEST_F(PipelineIntegrationTest, RateLimitAnswers429WithRetryAfterPerKey) {
    int ok = 0;
    int limited = 0;
    test_support::HttpReply last;
    for (int i = 0; i < 25; ++i) {
        last = Fetch(port_, "GET", "/v1/things",
                     {{"Authorization", std::string("Bearer ") + kReaderKey}});
        (last.status == 200 ? ok : limited)++;
        if (last.status == 429) break;
    }
    EXPECT_EQ(ok, 20);  // the burst
    EXPECT_EQ(limited, 1);
    EXPECT_EQ(nlohmann::json::parse(last.body)["error"]["code"], "rate_limit_exceeded");
    EXPECT_TRUE(last.Header("retry-after"));
    // Another key has its own bucket.
    EXPECT_EQ(Post(kWriterKey, "", "{}").status, 201);
}

TEST_F(PipelineIntegrationTest, MetricsCountRefusalsByRouteTemplate) {
    Post(kWriterKey, "", "{}");
    Post(kReaderKey, "", "{}");
    Fetch(port_, "GET", "/unknown/path/42");
    std::string text = metrics_.Serialize();
    EXPECT_NE(text.find("http_requests_total{method=\"POST\",route=\"/v1/things\",service=\"test\","
                        "status_class=\"2xx\"} 1"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("http_requests_total{method=\"POST\",route=\"/v1/things\",service=\"test\","
                        "status_class=\"4xx\"} 1"),
              std::string::npos);
    EXPECT_NE(text.find("route=\"unmatched\""), std::string::npos);
    EXPECT_EQ(text.find("/unknown/path/42"), std::string::npos);
}

}  // namespace
}  // namespace middleware
