#include "ledger/app/group_commit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include "commons/metrics.hpp"
#include "support/gate.hpp"
#include "support/process.hpp"

namespace ledger::app {
namespace {

using namespace std::chrono_literals;

domain::Command Create(const std::string& id) { return domain::CreateTransaction{.id = id}; }

std::string IdOf(const domain::Command& command) {
    return domain::TransactionIdsOf(command).back();
}

// A fake Execute: records each batch's ids; a command whose id starts with "refuse" gets
// kExceedsCredits, with "fail" the whole batch throws DatabaseUnavailableError, with "poison"
// the whole batch throws a non-transient error; the first batch waits on `gate`.
struct FakeStore {
    test_support::Gate gate;
    std::mutex mutex;
    std::vector<std::vector<std::string>> batches;
    std::vector<domain::Atomicity> atomicities;

    BatchResult Execute(const std::vector<domain::Command>& commands,
                        domain::Atomicity atomicity = domain::Atomicity::kIndependent) {
        bool first = false;
        {
            std::lock_guard lock(mutex);
            first = batches.empty();
            atomicities.push_back(atomicity);
            batches.emplace_back();
            for (const auto& c : commands) batches.back().push_back(IdOf(c));
        }
        if (first) gate.Wait();
        BatchResult result;
        for (const auto& c : commands) {
            const std::string id = IdOf(c);
            if (id.rfind("fail", 0) == 0) throw commons::DatabaseUnavailableError("batch failed");
            // The database refusing one command's data (a value it cannot store, say): the
            // whole transaction rolls back, but nothing is wrong with the other commands.
            if (id.rfind("poison", 0) == 0) throw std::invalid_argument("value refused");
            domain::CommandResult r;
            r.transaction_id = id;
            r.code = id.rfind("refuse", 0) == 0 ? domain::ResultCode::kExceedsCredits
                                                : domain::ResultCode::kOk;
            result.outcome.results.push_back(r);
            if (r.code == domain::ResultCode::kOk) result.transactions[id].id = id;
        }
        return result;
    }
};

class GroupCommitTest : public ::testing::Test {
  protected:
    std::unique_ptr<GroupCommitter> Make(GroupCommitSettings settings) {
        return std::make_unique<GroupCommitter>(
            settings,
            [this](const auto& commands, domain::Atomicity atomicity) {
                return store_.Execute(commands, atomicity);
            },
            metrics_);
    }
    FakeStore store_;
    commons::Metrics metrics_;
};

TEST_F(GroupCommitTest, CoalescesCommandsQueuedWhileABatchCommits) {
    auto committer = Make({.committers = 1, .batch_max = 100});
    std::thread first([&] {
        EXPECT_EQ(committer->Submit(Create("t0")).outcome.results[0].transaction_id, "t0");
    });
    ASSERT_TRUE(store_.gate.WaitForWaiters(1));
    std::vector<std::thread> others;
    std::vector<BatchResult> results(6);
    for (int i = 1; i <= 6; ++i) {
        others.emplace_back(
            [&, i] { results[i - 1] = committer->Submit(Create("t" + std::to_string(i))); });
    }
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 6; }));
    store_.gate.Open();
    first.join();
    for (auto& t : others) t.join();
    ASSERT_EQ(store_.batches.size(), 2u);
    EXPECT_EQ(store_.batches[1].size(), 6u);  // one database transaction for all six
    for (int i = 1; i <= 6; ++i) {
        // Each caller gets its own result and only its own transaction.
        ASSERT_EQ(results[i - 1].outcome.results.size(), 1u);
        EXPECT_EQ(results[i - 1].outcome.results[0].transaction_id, "t" + std::to_string(i));
        EXPECT_EQ(results[i - 1].transactions.size(), 1u);
        EXPECT_TRUE(results[i - 1].transactions.count("t" + std::to_string(i)));
    }
}

TEST_F(GroupCommitTest, BatchesNeverExceedTheirMaximum) {
    auto committer = Make({.committers = 1, .batch_max = 3});
    std::thread first([&] { committer->Submit(Create("t0")); });
    ASSERT_TRUE(store_.gate.WaitForWaiters(1));
    std::vector<std::thread> others;
    for (int i = 1; i <= 7; ++i)
        others.emplace_back([&, i] { committer->Submit(Create("t" + std::to_string(i))); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 7; }));
    store_.gate.Open();
    first.join();
    for (auto& t : others) t.join();
    ASSERT_EQ(store_.batches.size(), 4u);  // 1, then 3 + 3 + 1
    for (const auto& batch : store_.batches) EXPECT_LE(batch.size(), 3u);
}

TEST_F(GroupCommitTest, ARefusedCommandDoesNotFailItsBatchMates) {
    auto committer = Make({.committers = 1});
    store_.gate.Open();
    std::vector<std::thread> threads;
    std::atomic<int> ok{0}, refused{0};
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] {
            auto result = committer->Submit(Create((i % 2 ? "refuse" : "t") + std::to_string(i)));
            (result.outcome.results[0].code == domain::ResultCode::kOk ? ok : refused)++;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 4);
    EXPECT_EQ(refused.load(), 4);
}

TEST_F(GroupCommitTest, ADatabaseFailureFailsOnlyTheCommandsOfThatBatch) {
    auto committer = Make({.committers = 1, .batch_max = 100});
    std::thread first([&] { committer->Submit(Create("t0")); });
    ASSERT_TRUE(store_.gate.WaitForWaiters(1));
    std::thread doomed_a([&] {
        EXPECT_THROW(committer->Submit(Create("fail")), commons::DatabaseUnavailableError);
    });
    std::thread doomed_b(
        [&] { EXPECT_THROW(committer->Submit(Create("x")), commons::DatabaseUnavailableError); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 2; }));
    store_.gate.Open();
    first.join();  // the first batch committed
    doomed_a.join();
    doomed_b.join();
    EXPECT_EQ(committer->Submit(Create("after")).outcome.results[0].code, domain::ResultCode::kOk);
}

TEST_F(GroupCommitTest, AFullQueueRefusesAtOnce) {
    auto committer = Make({.committers = 1, .batch_max = 10, .queue_max = 1});
    std::thread first([&] { committer->Submit(Create("t0")); });
    ASSERT_TRUE(store_.gate.WaitForWaiters(1));
    std::thread queued([&] { committer->Submit(Create("t1")); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 1; }));
    EXPECT_THROW(committer->Submit(Create("t2")), CommitQueueFullError);
    store_.gate.Open();
    first.join();
    queued.join();
    committer->Stop();
    EXPECT_THROW(committer->Submit(Create("t3")), CommitQueueFullError);
}

std::vector<domain::Command> Creates(const std::string& prefix, int count) {
    std::vector<domain::Command> commands;
    for (int i = 0; i < count; ++i) commands.push_back(Create(prefix + std::to_string(i)));
    return commands;
}

TEST_F(GroupCommitTest, IndependentRequestsOfSeveralCommandsShareABatchAndGetTheirOwnResults) {
    auto committer = Make({.committers = 1, .batch_max = 100});
    std::thread first([&] { committer->Submit(Create("t0")); });
    ASSERT_TRUE(store_.gate.WaitForWaiters(1));
    BatchResult a, b, c;
    std::thread ta(
        [&] { a = committer->Submit(Creates("a", 3), domain::Atomicity::kIndependent); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 3; }));
    std::thread tb([&] { b = committer->Submit(Create("b0")); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 4; }));
    std::thread tc(
        [&] { c = committer->Submit(Creates("c", 2), domain::Atomicity::kIndependent); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 6; }));
    store_.gate.Open();
    for (auto* t : {&first, &ta, &tb, &tc}) t->join();
    ASSERT_EQ(store_.batches.size(), 2u);
    EXPECT_EQ(store_.batches[1], (std::vector<std::string>{"a0", "a1", "a2", "b0", "c0", "c1"}));
    EXPECT_EQ(store_.atomicities[1], domain::Atomicity::kIndependent);
    ASSERT_EQ(a.outcome.results.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(a.outcome.results[i].transaction_id, "a" + std::to_string(i));
    }
    EXPECT_EQ(a.transactions.size(), 3u);
    ASSERT_EQ(b.outcome.results.size(), 1u);
    EXPECT_EQ(b.outcome.results[0].transaction_id, "b0");
    EXPECT_EQ(b.transactions.size(), 1u);
    ASSERT_EQ(c.outcome.results.size(), 2u);
    EXPECT_EQ(c.outcome.results[1].transaction_id, "c1");
    EXPECT_FALSE(c.transactions.count("a0"));
}

TEST_F(GroupCommitTest, AnAllOrNothingRequestRunsAloneAndARequestIsNeverSplit) {
    auto committer = Make({.committers = 1, .batch_max = 4});
    std::thread first([&] { committer->Submit(Create("t0")); });
    ASSERT_TRUE(store_.gate.WaitForWaiters(1));
    std::thread single_a([&] { committer->Submit(Create("s0")); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 1; }));
    std::thread atomic([&] {
        auto result = committer->Submit(Creates("x", 2), domain::Atomicity::kAllOrNothing);
        EXPECT_EQ(result.outcome.results.size(), 2u);
    });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 3; }));
    std::thread single_b([&] { committer->Submit(Create("s1")); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 4; }));
    std::thread large([&] {
        auto result = committer->Submit(Creates("L", 6), domain::Atomicity::kIndependent);
        EXPECT_EQ(result.outcome.results.size(), 6u);
    });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 10; }));
    store_.gate.Open();
    for (auto* t : {&first, &single_a, &atomic, &single_b, &large}) t->join();
    ASSERT_EQ(store_.batches.size(), 5u);
    EXPECT_EQ(store_.batches[1], (std::vector<std::string>{"s0"}));  // stops before the atomic
    EXPECT_EQ(store_.batches[2], (std::vector<std::string>{"x0", "x1"}));
    EXPECT_EQ(store_.atomicities[2], domain::Atomicity::kAllOrNothing);
    EXPECT_EQ(store_.batches[3], (std::vector<std::string>{"s1"}));  // 1 + 6 would pass 4
    EXPECT_EQ(store_.batches[4].size(), 6u);  // larger than batch_max, taken whole
    EXPECT_EQ(store_.atomicities[4], domain::Atomicity::kIndependent);
}

TEST_F(GroupCommitTest, TheQueueBoundCountsCommandsNotRequests) {
    auto committer = Make({.committers = 1, .batch_max = 10, .queue_max = 4});
    std::thread first([&] { committer->Submit(Create("t0")); });
    ASSERT_TRUE(store_.gate.WaitForWaiters(1));
    std::thread three([&] { committer->Submit(Creates("a", 3), domain::Atomicity::kIndependent); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 3; }));
    EXPECT_THROW(committer->Submit(Creates("b", 2), domain::Atomicity::kIndependent),
                 CommitQueueFullError);
    std::thread one([&] { committer->Submit(Create("c0")); });  // 3 + 1 fits
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 4; }));
    store_.gate.Open();
    for (auto* t : {&first, &three, &one}) t->join();
    // An empty queue takes a request larger than the bound rather than refusing it forever.
    EXPECT_EQ(committer->Submit(Creates("big", 6), domain::Atomicity::kIndependent)
                  .outcome.results.size(),
              6u);
}

TEST_F(GroupCommitTest, ARequestTheDatabaseRefusesFailsAloneAndItsBatchMatesCommit) {
    auto committer = Make({.committers = 1, .batch_max = 100});
    std::thread first([&] { committer->Submit(Create("t0")); });
    ASSERT_TRUE(store_.gate.WaitForWaiters(1));
    std::thread poisoned(
        [&] { EXPECT_THROW(committer->Submit(Create("poison")), std::invalid_argument); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 1; }));
    BatchResult a, b;
    std::thread ta([&] { a = committer->Submit(Create("a")); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 2; }));
    std::thread tb(
        [&] { b = committer->Submit(Creates("b", 2), domain::Atomicity::kIndependent); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return committer->queued() == 4; }));
    store_.gate.Open();
    for (auto* t : {&first, &poisoned, &ta, &tb}) t->join();
    ASSERT_EQ(a.outcome.results.size(), 1u);
    EXPECT_EQ(a.outcome.results[0].code, domain::ResultCode::kOk);
    EXPECT_TRUE(a.transactions.count("a"));
    ASSERT_EQ(b.outcome.results.size(), 2u);
    EXPECT_EQ(b.transactions.size(), 2u);
    // The shared batch, then each request in a transaction of its own.
    ASSERT_EQ(store_.batches.size(), 5u);
    EXPECT_EQ(store_.batches[1], (std::vector<std::string>{"poison", "a", "b0", "b1"}));
    EXPECT_EQ(store_.batches[2], (std::vector<std::string>{"poison"}));
    EXPECT_EQ(store_.batches[3], (std::vector<std::string>{"a"}));
    EXPECT_EQ(store_.batches[4], (std::vector<std::string>{"b0", "b1"}));
}

TEST_F(GroupCommitTest, LingeringCommittersNeverCommitAnEmptyBatch) {
    // Several committers with a linger: one lingers while another empties the queue. The
    // lingering one must go back to waiting, not commit an empty batch (an assertion abort).
    auto committer = Make({.committers = 4, .batch_max = 8, .linger = 2ms});
    store_.gate.Open();
    std::vector<std::thread> clients;
    std::atomic<int> committed{0};
    for (int c = 0; c < 8; ++c) {
        clients.emplace_back([&, c] {
            for (int i = 0; i < 150; ++i) {
                auto result =
                    committer->Submit(Create("c" + std::to_string(c) + "_" + std::to_string(i)));
                if (result.outcome.results.size() == 1) ++committed;
            }
        });
    }
    for (auto& t : clients) t.join();
    committer->Stop();
    EXPECT_EQ(committed.load(), 8 * 150);
    for (const auto& batch : store_.batches) EXPECT_FALSE(batch.empty());
}

TEST(CommitQueueFullError, IsOverloadNotADatabaseOutage) {
    static_assert(std::is_base_of_v<commons::OverloadedError, CommitQueueFullError>);
    static_assert(!std::is_base_of_v<commons::DatabaseUnavailableError, CommitQueueFullError>);
    try {
        throw CommitQueueFullError("full");
    } catch (const commons::DatabaseUnavailableError&) {
        FAIL() << "reported as a database outage";
    } catch (const commons::OverloadedError& error) {
        EXPECT_STREQ(error.what(), "full");
    }
}

}  // namespace
}  // namespace ledger::app
