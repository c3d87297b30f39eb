#pragma once

// Group commit (the ledger throughput issue): concurrent requests are coalesced into one
// database transaction, so one commit (one fsync) and one row lock per account serve
// many requests, and a hot account is written once per batch instead of once per request.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "commons/blocking_pool.hpp"
#include "commons/db.hpp"
#include "ledger/app/ports.hpp"

namespace commons {
class Metrics;
}

namespace prometheus {
class Counter;
class Histogram;
}  // namespace prometheus

namespace ledger::app {

struct GroupCommitSettings {
    // Committer threads: while one batch waits for its commit, the next one is being built and
    // executed. Each holds one database connection while it works.
    std::size_t committers = 4;
    // Commands per database transaction: bounds lock sets, statement sizes and the work one
    // failure throws away.
    std::size_t batch_max = 512;
    // How long a committer waits for more commands after the first one arrives, when fewer than
    // batch_max are queued. 0: take what is there (under load, commands queue up while the
    // previous batch commits, which is batching enough).
    std::chrono::microseconds linger{0};
    // Commands waiting beyond this are refused at once (the caller answers 503) instead of
    // queueing without bound. A request of more commands than this is still taken when the
    // queue is empty.
    std::size_t queue_max = 20'000;
};

// The queue is full or the committer is stopping: the request was not executed. The ledger is
// overloaded, not the database down, so the error boundary answers 503 with Retry-After and
// logs a warning about load instead of an outage.
class CommitQueueFullError : public commons::OverloadedError {
  public:
    using commons::OverloadedError::OverloadedError;
};

class GroupCommitter {
  public:
    // Executes commands in one database transaction, independent or all-or-nothing.
    using Execute =
        std::function<BatchResult(const std::vector<domain::Command>&, domain::Atomicity)>;

    // Starts the committer threads. `metrics` must outlive the committer.
    GroupCommitter(GroupCommitSettings settings, Execute execute, commons::Metrics& metrics);
    ~GroupCommitter();  // Stop()s
    GroupCommitter(const GroupCommitter&) = delete;
    GroupCommitter& operator=(const GroupCommitter&) = delete;

    // Runs `command` in the next batch and returns its result alone (results[0] and the
    // transaction it names). Blocks until that batch has committed. A command refused by the
    // state machine does not affect its batch-mates. When the database cannot do the work
    // (commons::IsTransientDatabaseError: down, retries exhausted, timed out) the batch fails
    // whole and every request of it gets that error. Any other failure of a shared batch (the
    // database refusing one request's data) re-runs the batch request by request, so only the
    // request that fails alone gets its error and its batch-mates are committed. Throws
    // CommitQueueFullError when the queue is full or stopping.
    BatchResult Submit(domain::Command command);

    // A request of several commands (the batch endpoint), through the same queue and
    // committers, so concurrent batch requests never hold more database connections than
    // there are committers. Independent requests share a database transaction with others
    // (never split: one larger than batch_max runs alone); an all-or-nothing request runs
    // alone. Returns this request's results in order and the transactions they name.
    // Precondition: commands is not empty.
    BatchResult Submit(std::vector<domain::Command> commands, domain::Atomicity atomicity);

    // Refuses new commands, finishes the queued ones, joins the threads. Idempotent.
    void Stop();

    // Commands waiting for a committer (for tests and diagnostics).
    std::size_t queued();

  private:
    struct Waiting {
        std::vector<domain::Command> commands;
        domain::Atomicity atomicity;
        std::promise<BatchResult> promise;
    };

    void Run();
    void Commit(std::vector<Waiting*>& batch);
    // Executes `batch` as one database transaction and fulfils each request's promise with its
    // own results. Throws what Execute threw, promises untouched.
    void CommitTogether(const std::vector<Waiting*>& batch);

    GroupCommitSettings settings_;
    Execute execute_;
    prometheus::Histogram& batch_size_;
    prometheus::Counter& isolated_;
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::deque<Waiting*> queue_;
    std::size_t queued_commands_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace ledger::app
