// Many clients at once against real PostgreSQL: hot accounts, racing retries of one id, and a
// flagged account that must never be overdrawn. Each test ends with verify.

#include <random>
#include <thread>

#include "ledger/tests/ledger_fixture.hpp"

namespace ledger::testing {
namespace {

constexpr int kThreads = 8;

class LedgerConcurrencyTest : public LedgerFixture {
  protected:
    template <typename Body>
    void RunThreads(Body body) {
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) threads.emplace_back(body, t);
        for (auto& thread : threads) thread.join();
    }
};

TEST_F(LedgerConcurrencyTest, HotAccountsStayExactUnderEightWriters) {
    constexpr int kPerThread = 60;
    Account("hot_fee", "USD", "credit");
    for (int i = 0; i < 4; ++i) Account("src" + std::to_string(i));
    std::atomic<int> created{0}, failed{0};
    std::atomic<std::int64_t> total{0};
    RunThreads([&](int t) {
        std::minstd_rand random(static_cast<unsigned>(t));
        for (int i = 0; i < kPerThread; ++i) {
            const std::int64_t amount = 1 + static_cast<std::int64_t>(random() % 1000);
            json body = Transfer("h" + std::to_string(t) + "-" + std::to_string(i),
                                 "src" + std::to_string(random() % 4), "hot_fee", amount);
            if (i % 3 == 0) {  // three accounts in one transaction, touching the hot one twice
                body["entries"][1]["amount"] = amount - amount / 2;
                body["entries"].push_back(
                    {{"account_id", "hot_fee"}, {"direction", "credit"}, {"amount", amount / 2}});
                if (amount / 2 == 0)
                    body["entries"].erase(2), body["entries"][1]["amount"] = amount;
            }
            auto reply = Post("/v1/transactions", body);
            if (reply.status == 201) {
                ++created;
                total += amount;
            } else {
                ++failed;
                ADD_FAILURE() << reply.status << " " << reply.body;
            }
        }
    });
    EXPECT_EQ(created.load(), kThreads * kPerThread);
    EXPECT_EQ(Balances("hot_fee")["posted"], total.load());
    auto report = Verify();
    EXPECT_TRUE(report["ok"].get<bool>()) << report.dump();
    EXPECT_EQ(report["transactions_checked"], kThreads * kPerThread);
}

TEST_F(LedgerConcurrencyTest, RacingRetriesOfOneIdCreateExactlyOneTransaction) {
    Account("cash");
    Account("wallet", "USD", "credit");
    for (int round = 0; round < 10; ++round) {
        const std::string id = "race-" + std::to_string(round);
        std::atomic<int> created{0}, replayed{0};
        RunThreads([&](int) {
            auto reply = Post("/v1/transactions", Transfer(id, "cash", "wallet", 100));
            if (reply.status == 201) ++created;
            if (reply.status == 200 && reply.Header("idempotent-replayed") == "true") ++replayed;
        });
        EXPECT_EQ(created.load(), 1) << id;
        EXPECT_EQ(replayed.load(), kThreads - 1) << id;
    }
    EXPECT_EQ(Balances("wallet")["posted"], 1000);
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerConcurrencyTest, RacingRetriesOnDisjointAccountsStillCreateOne) {
    // Racing creates of one id that name different accounts take no common lock; the unique
    // key decides, and the losers replay or conflict.
    for (int i = 0; i < kThreads * 2; ++i)
        Account("x" + std::to_string(i), "USD", i % 2 ? "credit" : "debit");
    std::atomic<int> created{0}, conflicts{0};
    RunThreads([&](int t) {
        auto reply = Post("/v1/transactions", Transfer("same", "x" + std::to_string(2 * t),
                                                       "x" + std::to_string(2 * t + 1), 7));
        if (reply.status == 201) ++created;
        if (reply.status == 409) ++conflicts;
    });
    EXPECT_EQ(created.load(), 1);
    EXPECT_EQ(conflicts.load(), kThreads - 1);
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerConcurrencyTest, FlaggedAccountIsNeverOverdrawnByConcurrentSpenders) {
    Account("cash");
    Account("wallet", "USD", "credit", "debits_must_not_exceed_credits");
    ASSERT_EQ(Post("/v1/transactions", Transfer("fund", "cash", "wallet", 1000)).status, 201);
    std::atomic<int> spent{0}, refused{0};
    RunThreads([&](int t) {
        for (int i = 0; i < 5; ++i) {
            json body =
                Transfer("s" + std::to_string(t) + "-" + std::to_string(i), "wallet", "cash", 40);
            if (i % 2) body["status"] = "pending";  // holds count against the balance too
            auto reply = Post("/v1/transactions", body);
            if (reply.status == 201) ++spent;
            if (reply.status == 422 && ErrorCode(reply) == "exceeds_credits") ++refused;
        }
    });
    EXPECT_EQ(spent.load(), 25);  // 25 x 40 = 1000: exactly the credits
    EXPECT_EQ(refused.load(), kThreads * 5 - 25);
    auto balances = Balances("wallet");
    EXPECT_EQ(balances["available"], 0);
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

TEST_F(LedgerConcurrencyTest, ConcurrentPostsAndVoidsOfOneHoldApplyOnce) {
    Account("cash");
    Account("wallet", "USD", "credit");
    for (int round = 0; round < 5; ++round) {
        const std::string id = "hold-" + std::to_string(round);
        json hold = Transfer(id, "cash", "wallet", 50);
        hold["status"] = "pending";
        ASSERT_EQ(Post("/v1/transactions", hold).status, 201);
        std::atomic<int> applied{0}, not_pending{0};
        RunThreads([&](int t) {
            auto reply = Call("POST", "/v1/transactions/" + id + (t % 2 ? "/post" : "/void"));
            if (reply.status == 200) ++applied;
            if (reply.status == 422 && ErrorCode(reply) == "transaction_not_pending") ++not_pending;
        });
        EXPECT_EQ(applied.load(), 1) << id;
        EXPECT_EQ(not_pending.load(), kThreads - 1) << id;
    }
    EXPECT_EQ(Balances("wallet")["pending_credits"], 0);
    EXPECT_TRUE(Verify()["ok"].get<bool>());
}

}  // namespace
}  // namespace ledger::testing
