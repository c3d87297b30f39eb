// `bench ledger --scenario all` end to end, for a moment each: the bench binary against a
// ledger-service child process and the devstack PostgreSQL. Semantic checks only (every
// scenario moved money without errors, the naive schema holds what was reported); never
// timing or throughput, which depend on the machine. The run gets its own database and event
// stream, both removed at the end, so the thousands of transfers it books stay out of the
// shared devstack ledger.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "commons/db.hpp"
#include "commons/db_transaction.hpp"
#include "commons/ids.hpp"
#include "commons/redis.hpp"
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

// Small enough that account setup takes well under a second.
constexpr int kAccounts = 200;
constexpr int kBatchSize = 100;
const char* const kScenarios[] = {"uniform", "hot", "batch", "naive", "naive-hot"};

std::string Binary(const std::string& name) { return std::string(PAYMENTS_BIN_DIR) + "/" + name; }

// A port that was free a moment ago; the kernel rarely hands it out again that fast.
using test_support::FreePort;

using test_support::ScratchDatabase;

// A Redis stream for this test's events, deleted at the end.
class ScratchStream {
  public:
    ScratchStream() : name_("test.bench.events." + commons::RandomHex(6)), redis_(Settings()) {}
    ~ScratchStream() {
        try {
            redis_.Command({"DEL", name_});
        } catch (const std::exception& error) {
            ADD_FAILURE() << "cannot delete stream " << name_ << ": " << error.what();
        }
    }
    ScratchStream(const ScratchStream&) = delete;
    ScratchStream& operator=(const ScratchStream&) = delete;

    const std::string& name() const { return name_; }

  private:
    static commons::RedisSettings Settings() {
        commons::RedisSettings settings;
        settings.url = test_support::RedisUrl();
        return settings;
    }

    std::string name_;
    commons::RedisClient redis_;
};

std::map<std::string, std::string> LedgerEnvironment(const std::string& database_url,
                                                     const std::string& stream,
                                                     std::uint16_t port) {
    return {
        {"PATH", "/usr/bin:/bin"},
        {"PAYMENTS_DATABASE_URL", database_url},
        {"PAYMENTS_REDIS_URL", test_support::RedisUrl()},
        {"PAYMENTS_EVENTS_STREAM", stream},
        {"PAYMENTS_SECRETS_DIR", test_support::DevstackVariable("PAYMENTS_SECRETS_DIR")},
        {"PORT", std::to_string(port)},
        {"PAYMENTS_HTTP_ADDRESS", "127.0.0.1"},
        {"PAYMENTS_LOG_LEVEL", "warn"},
        // bench's load must not be refused by the per-key rate limit.
        {"PAYMENTS_RATE_LIMIT_PER_SECOND", "0"},
    };
}

bool Healthy(std::uint16_t port) {
    try {
        return Fetch(port, "GET", "/health").status == 200;
    } catch (const std::runtime_error&) {
        return false;
    }
}

// The one line of bench's output that is its JSON report (progress lines go to stderr, which
// the child process shares with stdout).
std::optional<json> JsonReport(const std::string& output) {
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line.front() == '{') return json::parse(line);
    }
    return std::nullopt;
}

// One integer from `sql` in `database_url`.
std::int64_t Scalar(const std::string& database_url, const std::string& sql) {
    commons::DbSettings settings;
    settings.url = database_url;
    settings.application_name = "bench-ledger-smoke-test";
    settings.pool_size = 1;
    commons::ConnectionPool pool(settings);
    return commons::WithTransaction(pool, [&](pqxx::dbtransaction& transaction) {
        return transaction.exec1(sql)[0].as<std::int64_t>();
    });
}

TEST(BenchLedger, EveryScenarioMovesMoneyWithoutErrors) {
    const std::string key = test_support::DevstackVariable("PAYMENTS_DEV_API_KEY");
    // Destroyed after the child processes below, so nothing is connected when it is dropped.
    ScratchDatabase database("bench_smoke");
    ScratchStream stream;
    const std::string schema = "bench_naive_smoke";

    ChildProcess migrate(Binary("ledger-service"), {"migrate"},
                         LedgerEnvironment(database.url(), stream.name(), 0));
    ASSERT_EQ(migrate.WaitForExit(60s), 0) << migrate.Output();
    const std::uint16_t port = FreePort();
    ChildProcess service(Binary("ledger-service"), {"serve"},
                         LedgerEnvironment(database.url(), stream.name(), port));
    ASSERT_TRUE(test_support::PollUntil(30s, [&] {
        return Healthy(port) || service.WaitForExit(0ms);
    })) << service.Output();

    // Only PATH in bench's environment: the flags alone must be enough.
    ChildProcess bench(Binary("bench"),
                       {"ledger",
                        "--scenario",
                        "all",
                        "--url",
                        "http://127.0.0.1:" + std::to_string(port),
                        "--api-key",
                        key,
                        "--database-url",
                        database.url(),
                        "--naive-schema",
                        schema,
                        "--accounts",
                        std::to_string(kAccounts),
                        "--batch-size",
                        std::to_string(kBatchSize),
                        "--concurrency",
                        "8",
                        "--duration",
                        "1s",
                        "--warmup",
                        "0s",
                        "--timeout",
                        "10s",
                        "--json"},
                       {{"PATH", "/usr/bin:/bin"}});
    ASSERT_EQ(bench.WaitForExit(90s), 0) << bench.Output();
    const std::optional<json> report = JsonReport(bench.Output());
    ASSERT_TRUE(report.has_value()) << bench.Output();

    ASSERT_EQ((*report)["results"].size(), std::size(kScenarios)) << bench.Output();
    ASSERT_EQ((*report)["summary"].size(), std::size(kScenarios));
    std::map<std::string, std::uint64_t> transactions_ok;
    for (std::size_t i = 0; i < std::size(kScenarios); ++i) {
        const json& result = (*report)["results"][i];
        const json& summary = (*report)["summary"][i];
        SCOPED_TRACE(kScenarios[i]);
        EXPECT_EQ(result["label"], kScenarios[i]);
        EXPECT_EQ(summary["scenario"], kScenarios[i]);
        const json& requests = result["requests"];
        EXPECT_GT(requests["completed"].get<std::uint64_t>(), 0u);
        EXPECT_EQ(requests["errors"], 0) << result.dump();
        EXPECT_EQ(requests["ok"], requests["completed"]);
        EXPECT_EQ(requests["sent"], requests["completed"]);
        const std::uint64_t per_request = std::string(kScenarios[i]) == "batch" ? kBatchSize : 1;
        EXPECT_EQ(summary["transactions_per_request"], per_request);
        EXPECT_EQ(summary["transactions_ok"], requests["ok"].get<std::uint64_t>() * per_request);
        EXPECT_EQ(summary["errors"], 0);
        transactions_ok[kScenarios[i]] = summary["transactions_ok"].get<std::uint64_t>();
    }
    EXPECT_TRUE((*report)["ratios"].contains("uniform/naive")) << (*report)["ratios"].dump();
    EXPECT_TRUE((*report)["ratios"].contains("hot/uniform"));

    // With no warm-up every transfer is counted, so the naive tables hold exactly what was
    // reported, and debits equal credits.
    const std::int64_t naive_total =
        static_cast<std::int64_t>(transactions_ok["naive"] + transactions_ok["naive-hot"]);
    const auto scalar = [&](const std::string& sql) { return Scalar(database.url(), sql); };
    EXPECT_EQ(scalar("SELECT count(*) FROM " + schema + ".transactions"), naive_total);
    EXPECT_EQ(scalar("SELECT count(*) FROM " + schema + ".entries"), 2 * naive_total);
    EXPECT_EQ(scalar("SELECT count(*) FROM " + schema + ".entries e JOIN " + schema +
                     ".transactions t ON t.id = e.transaction_id"),
              2 * naive_total);
    EXPECT_EQ(scalar("SELECT coalesce(sum(balance), 0) FROM " + schema + ".accounts"), 0);
    EXPECT_EQ(scalar("SELECT count(*) FROM " + schema + ".accounts"), kAccounts + 2);

    // The service booked every transfer bench counted (its database is this run's alone).
    const auto service_total = static_cast<std::int64_t>(
        transactions_ok["uniform"] + transactions_ok["hot"] + transactions_ok["batch"]);
    EXPECT_EQ(scalar("SELECT count(*) FROM ledger.transactions"), service_total);
    EXPECT_EQ(scalar("SELECT count(*) FROM ledger.accounts"), kAccounts + 2);

    // The ids bench sent are the ones booked: the first transfer of each service scenario.
    const std::string prefix = (*report)["attributes"]["unique_prefix"];
    const std::vector<std::pair<std::string, std::string>> auth = {
        {"Authorization", "Bearer " + key}};
    for (const char* id : {"_u0", "_h0", "_b0_0", "_b0_99"}) {
        const auto reply =
            Fetch(port, "GET", "/v1/transactions/bench_" + prefix + std::string(id), auth);
        EXPECT_EQ(reply.status, 200) << id << ": " << reply.body;
        if (reply.status == 200) {
            EXPECT_EQ(json::parse(reply.body)["status"], "posted") << id;
        }
    }

    service.Signal(SIGTERM);
    EXPECT_EQ(service.WaitForExit(30s), 0) << service.Output();
}

}  // namespace
