#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commons/db.hpp"
#include "commons/db_transaction.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/migrations.hpp"
#include "middleware/idempotency.hpp"
#include "support/commons_migrations.hpp"
#include "support/devstack.hpp"
#include "support/temp_dir.hpp"

namespace middleware {
namespace {

using commons::http::Handler;
using commons::http::Method;
using commons::http::Request;
using commons::http::Response;
using namespace std::chrono_literals;

class IdempotencyTest : public ::testing::Test {
  protected:
    IdempotencyTest() {
        commons::DbSettings settings;
        settings.url = test_support::DatabaseUrl();
        settings.application_name = "idempotency-test";
        settings.pool_size = 12;
        pool_ = std::make_unique<commons::ConnectionPool>(settings);
        // The same migration every service applies (commons track).
        commons::ApplyMigrations(*pool_, schema_, test_support::CommonsMigrations(), logger_);
        IdempotencySettings idempotency;
        idempotency.purge_batch_max = 2;
        store_ = std::make_unique<IdempotencyStore>(*pool_, schema_, idempotency, logger_);
    }

    ~IdempotencyTest() override {
        store_.reset();
        commons::WithTransaction(*pool_, [this](pqxx::dbtransaction& tx) {
            tx.exec0("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
        });
    }

    Request MakeRequest(std::string key, std::string body = R"({"amount":100,"currency":"USD"})",
                        std::string path = "/v1/things", Method method = Method::kPost,
                        std::string key_id = "key_a") {
        Request request;
        request.method = method;
        request.path = path;
        request.route = path;
        request.body = std::move(body);
        request.key_id = std::move(key_id);
        if (!key.empty()) request.headers = {{"idempotency-key", std::move(key)}};
        return request;
    }

    Response Call(Request request, const Handler& handler) {
        return Idempotency(*store_)(request, handler);
    }

    Handler Counting(int status = 201) {
        return [this, status](Request&) {
            int n = ++runs_;
            return Response::Json(status, nlohmann::json{{"run", n}}.dump());
        };
    }

    void Exec(const std::string& sql) {
        commons::WithTransaction(*pool_, [&](pqxx::dbtransaction& tx) { tx.exec0(sql); });
    }

    std::string schema_ = "idem_test_" + commons::RandomHex(6);
    commons::Logger logger_{"test", stderr, commons::LogLevel::kError};
    std::unique_ptr<commons::ConnectionPool> pool_;
    std::unique_ptr<IdempotencyStore> store_;
    std::atomic<int> runs_{0};
};

TEST_F(IdempotencyTest, StoresFirstResponseAndReplaysItMarked) {
    auto first = Call(MakeRequest("key-0001"), Counting());
    auto second = Call(MakeRequest("key-0001"), Counting());
    EXPECT_EQ(runs_, 1);
    EXPECT_EQ(first.status, 201);
    EXPECT_EQ(second.status, 201);
    EXPECT_EQ(second.body, first.body);
    EXPECT_EQ(second.Header("Content-Type"), "application/json");
    EXPECT_EQ(second.Header("Idempotent-Replayed"), "true");
    EXPECT_FALSE(first.Header("Idempotent-Replayed"));
}

TEST_F(IdempotencyTest, BodiesAreComparedAsParsedJson) {
    Call(MakeRequest("key-json", R"({"amount":100,"currency":"USD"})"), Counting());
    auto reordered =
        Call(MakeRequest("key-json", "{ \"currency\" : \"USD\",\n  \"amount\": 100 }"), Counting());
    EXPECT_EQ(reordered.Header("Idempotent-Replayed"), "true");
    auto changed = Call(MakeRequest("key-json", R"({"amount":101,"currency":"USD"})"), Counting());
    EXPECT_EQ(changed.status, 400);
    auto error = nlohmann::json::parse(changed.body)["error"];
    EXPECT_EQ(error["type"], "idempotency_error");
    EXPECT_EQ(error["code"], "idempotency_error");
    EXPECT_NE(error["message"].get<std::string>().find("body"), std::string::npos);
    EXPECT_EQ(runs_, 1);
}

TEST_F(IdempotencyTest, SameKeyWithAnotherPathOrMethodIsRefused) {
    Call(MakeRequest("key-path"), Counting());
    EXPECT_EQ(
        Call(MakeRequest("key-path", R"({"amount":100,"currency":"USD"})", "/v1/other"), Counting())
            .status,
        400);
    EXPECT_EQ(Call(MakeRequest("key-path", R"({"amount":100,"currency":"USD"})", "/v1/things",
                               Method::kPatch),
                   Counting())
                  .status,
              400);
    EXPECT_EQ(runs_, 1);
}

TEST_F(IdempotencyTest, KeysAreScopedToTheApiKey) {
    Call(MakeRequest("shared-key"), Counting());
    auto other = Call(MakeRequest("shared-key", R"({"amount":100,"currency":"USD"})", "/v1/things",
                                  Method::kPost, "key_b"),
                      Counting());
    EXPECT_FALSE(other.Header("Idempotent-Replayed"));
    EXPECT_EQ(runs_, 2);
}

TEST_F(IdempotencyTest, SecondRequestWhileFirstRunsGets409) {
    std::mutex mutex;
    std::condition_variable changed;
    bool entered = false;
    bool release = false;
    Handler blocking = [&](Request&) {
        std::unique_lock lock(mutex);
        entered = true;
        changed.notify_all();
        changed.wait(lock, [&] { return release; });
        ++runs_;
        return Response::Json(201, R"({"slow":true})");
    };
    auto first =
        std::async(std::launch::async, [&] { return Call(MakeRequest("key-race"), blocking); });
    {
        std::unique_lock lock(mutex);
        ASSERT_TRUE(changed.wait_for(lock, 10s, [&] { return entered; }));
    }
    auto concurrent = Call(MakeRequest("key-race"), Counting());
    EXPECT_EQ(concurrent.status, 409);
    EXPECT_EQ(nlohmann::json::parse(concurrent.body)["error"]["code"], "idempotency_key_in_use");
    EXPECT_EQ(concurrent.Header("Retry-After"), "1");
    {
        std::lock_guard lock(mutex);
        release = true;
    }
    changed.notify_all();
    EXPECT_EQ(first.get().status, 201);
    EXPECT_EQ(Call(MakeRequest("key-race"), Counting()).body, R"({"slow":true})");
    EXPECT_EQ(runs_, 1);
}

TEST_F(IdempotencyTest, ManySimultaneousRequestsWithOneKeyRunExactlyOnce) {
    constexpr int kThreads = 8;
    std::atomic<int> ready{0};
    std::vector<std::future<Response>> results;
    for (int i = 0; i < kThreads; ++i) {
        results.push_back(std::async(std::launch::async, [&] {
            ++ready;
            while (ready < kThreads) {
            }
            return Call(MakeRequest("key-stampede"), Counting());
        }));
    }
    int created = 0;
    int replayed = 0;
    int in_use = 0;
    for (auto& result : results) {
        auto response = result.get();
        if (response.status == 409) {
            ++in_use;
        } else {
            ASSERT_EQ(response.status, 201);
            ASSERT_EQ(response.body, R"({"run":1})");
            (response.Header("Idempotent-Replayed") ? replayed : created)++;
        }
    }
    EXPECT_EQ(runs_, 1);
    EXPECT_EQ(created, 1);
    EXPECT_EQ(created + replayed + in_use, kThreads);
}

TEST_F(IdempotencyTest, ValidationFailuresAreNotStored) {
    EXPECT_EQ(Call(MakeRequest("key-invalid"), Counting(400)).status, 400);
    auto retry = Call(MakeRequest("key-invalid"), Counting(201));
    EXPECT_EQ(retry.status, 201);
    EXPECT_FALSE(retry.Header("Idempotent-Replayed"));
    EXPECT_EQ(runs_, 2);
}

TEST_F(IdempotencyTest, ServerErrorsAreStoredAndReplayed) {
    EXPECT_EQ(Call(MakeRequest("key-500"), Counting(500)).status, 500);
    auto replay = Call(MakeRequest("key-500"), Counting(201));
    EXPECT_EQ(replay.status, 500);
    EXPECT_EQ(replay.Header("Idempotent-Replayed"), "true");
    EXPECT_EQ(runs_, 1);
}

TEST_F(IdempotencyTest, UnexpectedExceptionStoresA500AndRethrows) {
    EXPECT_THROW(Call(MakeRequest("key-throw"),
                      [](Request&) -> Response { throw std::runtime_error("bug"); }),
                 std::runtime_error);
    auto replay = Call(MakeRequest("key-throw"), Counting());
    EXPECT_EQ(replay.status, 500);
    EXPECT_EQ(nlohmann::json::parse(replay.body)["error"]["code"], "internal_error");
    EXPECT_EQ(runs_, 0);
}

TEST_F(IdempotencyTest, UnavailableDependencyReleasesTheKey) {
    EXPECT_THROW(
        Call(MakeRequest("key-503"),
             [](Request&) -> Response { throw commons::DatabaseUnavailableError("down"); }),
        commons::DatabaseUnavailableError);
    EXPECT_EQ(Call(MakeRequest("key-503"), Counting()).status, 201);
    EXPECT_EQ(runs_, 1);
}

TEST_F(IdempotencyTest, MalformedKeysAreRefusedAndReadsIgnoreKeys) {
    EXPECT_EQ(Call(MakeRequest(std::string(256, 'k')), Counting()).status, 400);
    EXPECT_EQ(Call(MakeRequest("caf\xc3\xa9-key"), Counting()).status, 400);
    EXPECT_EQ(runs_, 0);
    EXPECT_EQ(Call(MakeRequest(std::string(255, 'k')), Counting()).status, 201);
    Call(MakeRequest("key-get", "", "/v1/things", Method::kGet), Counting(200));
    Call(MakeRequest("key-get", "", "/v1/things", Method::kGet), Counting(200));
    EXPECT_EQ(runs_, 3);
}

TEST_F(IdempotencyTest, RequestsWithoutKeyOrUnmatchedRouteAreNotTracked) {
    Call(MakeRequest(""), Counting());
    Call(MakeRequest(""), Counting());
    auto unmatched = MakeRequest("key-404");
    unmatched.route = "";
    Call(unmatched, Counting(404));
    Call(unmatched, Counting(404));
    EXPECT_EQ(runs_, 4);
}

TEST_F(IdempotencyTest, AbandonedRunningKeyIsTakenOverAfterItsLeaseAndTheOldOwnerIsFenced) {
    auto first = store_->Start("key_a", "key-crash", "POST", "/v1/things", BodyFingerprint("{}"));
    ASSERT_EQ(first.outcome, IdempotencyStore::Outcome::kStarted);
    EXPECT_EQ(
        store_->Start("key_a", "key-crash", "POST", "/v1/things", BodyFingerprint("{}")).outcome,
        IdempotencyStore::Outcome::kInProgress);
    // The replica holding it stalls past its lease.
    Exec("UPDATE " + schema_ + ".idempotency_keys SET locked_until = now() - interval '1 second'");
    auto retry = store_->Start("key_a", "key-crash", "POST", "/v1/things", BodyFingerprint("{}"));
    ASSERT_EQ(retry.outcome, IdempotencyStore::Outcome::kStarted);
    EXPECT_NE(retry.owner, first.owner);
    // The stalled first request wakes up: it can neither release nor overwrite the retry's key.
    EXPECT_FALSE(store_->Release("key_a", "key-crash", first.owner));
    EXPECT_FALSE(store_->Complete("key_a", "key-crash", first.owner, {201, {}, "first"}));
    EXPECT_TRUE(store_->Complete("key_a", "key-crash", retry.owner, {201, {}, "retry"}));
    auto replay = store_->Start("key_a", "key-crash", "POST", "/v1/things", BodyFingerprint("{}"));
    ASSERT_EQ(replay.outcome, IdempotencyStore::Outcome::kReplay);
    EXPECT_EQ(replay.stored->body, "retry");
}

TEST_F(IdempotencyTest, PurgeDeletesOnlyExpiredKeysInBoundedBatches) {
    for (int i = 0; i < 5; ++i) Call(MakeRequest("old-" + std::to_string(i)), Counting());
    Exec("UPDATE " + schema_ + ".idempotency_keys SET created_at = now() - interval '25 hours'");
    Call(MakeRequest("fresh"), Counting());
    EXPECT_EQ(store_->PurgeExpired(), 5u);  // three statements of at most 2 rows
    EXPECT_EQ(Call(MakeRequest("fresh"), Counting()).Header("Idempotent-Replayed"), "true");
    EXPECT_FALSE(Call(MakeRequest("old-0"), Counting()).Header("Idempotent-Replayed"));
}

TEST_F(IdempotencyTest, ExpiredKeyNotYetPurgedIsFreeAgain) {
    Call(MakeRequest("key-expired"), Counting());
    Exec("UPDATE " + schema_ + ".idempotency_keys SET created_at = now() - interval '25 hours'");
    auto again = Call(MakeRequest("key-expired", R"({"different":true})"), Counting());
    EXPECT_EQ(again.status, 201);
    EXPECT_FALSE(again.Header("Idempotent-Replayed"));
}

TEST(BodyFingerprint, IgnoresJsonFormattingButNotValues) {
    EXPECT_EQ(BodyFingerprint(R"({"a":1,"b":[1,2]})"),
              BodyFingerprint("{ \"b\": [1, 2], \"a\": 1 }"));
    EXPECT_NE(BodyFingerprint(R"({"a":1})"), BodyFingerprint(R"({"a":2})"));
    EXPECT_NE(BodyFingerprint(R"({"a":1})"), BodyFingerprint(R"({"a":"1"})"));
    EXPECT_EQ(BodyFingerprint("not json"), BodyFingerprint("not json"));
    EXPECT_NE(BodyFingerprint("not json"), BodyFingerprint("not  json"));
}

}  // namespace
}  // namespace middleware
