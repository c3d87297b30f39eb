#include "ledger/app/group_commit.hpp"

#include <prometheus/family.h>
#include <prometheus/histogram.h>

#include "commons/assert.hpp"
#include "commons/metrics.hpp"

namespace ledger::app {

GroupCommitter::GroupCommitter(GroupCommitSettings settings, Execute execute,
                               commons::Metrics& metrics)
    : settings_(settings),
      execute_(std::move(execute)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("ledger_group_commit_batch_commands")
                      .Help("Commands per group-committed database transaction")
                      .Register(metrics.registry())
                      .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128,
                                                                       256, 512, 1024})) {
    PAY_ASSERT(settings_.committers > 0 && settings_.batch_max > 0 && settings_.queue_max > 0);
    for (std::size_t i = 0; i < settings_.committers; ++i) threads_.emplace_back([this] { Run(); });
}

GroupCommitter::~GroupCommitter() { Stop(); }

void GroupCommitter::Stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
    }
    arrived_.notify_all();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
}

std::size_t GroupCommitter::queued() {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

BatchResult GroupCommitter::Submit(domain::Command command) {
    Waiting waiting{std::move(command), {}};
    std::future<BatchResult> result = waiting.promise.get_future();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) throw CommitQueueFullError("the ledger is shutting down");
        if (queue_.size() >= settings_.queue_max) {
            throw CommitQueueFullError("the ledger's commit queue is full");
        }
        queue_.push_back(&waiting);
    }
    arrived_.notify_one();
    // The committer always fulfils the promise (value or exception) before `waiting` goes out
    // of scope here, so the pointer in the queue never dangles.
    return result.get();
}

void GroupCommitter::Run() {
    std::vector<Waiting*> batch;
    batch.reserve(settings_.batch_max);
    while (true) {
        {
            std::unique_lock lock(mutex_);
            arrived_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping and drained
            if (settings_.linger.count() > 0 && queue_.size() < settings_.batch_max && !stopping_) {
                arrived_.wait_for(lock, settings_.linger, [this] {
                    return stopping_ || queue_.size() >= settings_.batch_max;
                });
            }
            while (!queue_.empty() && batch.size() < settings_.batch_max) {
                batch.push_back(queue_.front());
                queue_.pop_front();
            }
        }
        // Others may still be queued: let another committer take them while this one works.
        arrived_.notify_one();
        Commit(batch);
        batch.clear();
    }
}

void GroupCommitter::Commit(std::vector<Waiting*>& batch) {
    std::vector<domain::Command> commands;
    commands.reserve(batch.size());
    for (auto* waiting : batch) commands.push_back(waiting->command);
    batch_size_.Observe(static_cast<double>(batch.size()));
    BatchResult result;
    try {
        result = execute_(commands);
    } catch (...) {
        for (auto* waiting : batch) waiting->promise.set_exception(std::current_exception());
        return;
    }
    PAY_ASSERT(result.outcome.results.size() == batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        BatchResult own;
        const auto& command_result = result.outcome.results[i];
        own.outcome.results.push_back(command_result);
        if (auto found = result.transactions.find(command_result.transaction_id);
            found != result.transactions.end()) {
            own.transactions.insert(*found);
        }
        batch[i]->promise.set_value(std::move(own));
    }
}

}  // namespace ledger::app
