#include "ledger/app/group_commit.hpp"

#include <prometheus/counter.h>
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
                                                                       256, 512, 1024})),
      isolated_(prometheus::BuildCounter()
                    .Name("ledger_group_commit_isolated_batches_total")
                    .Help("Batches refused by the database for a reason other than its "
                          "availability, re-run request by request")
                    .Register(metrics.registry())
                    .Add({})) {
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
    return queued_commands_;
}

BatchResult GroupCommitter::Submit(domain::Command command) {
    std::vector<domain::Command> commands;
    commands.push_back(std::move(command));
    return Submit(std::move(commands), domain::Atomicity::kIndependent);
}

BatchResult GroupCommitter::Submit(std::vector<domain::Command> commands,
                                   domain::Atomicity atomicity) {
    PAY_ASSERT(!commands.empty());
    Waiting waiting{std::move(commands), atomicity, {}};
    std::future<BatchResult> result = waiting.promise.get_future();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) throw CommitQueueFullError("the ledger is shutting down");
        if (!queue_.empty() && queued_commands_ + waiting.commands.size() > settings_.queue_max) {
            throw CommitQueueFullError("the ledger's commit queue is full");
        }
        queue_.push_back(&waiting);
        queued_commands_ += waiting.commands.size();
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
            if (settings_.linger.count() > 0 && queued_commands_ < settings_.batch_max &&
                !stopping_) {
                arrived_.wait_for(lock, settings_.linger, [this] {
                    return stopping_ || queued_commands_ >= settings_.batch_max;
                });
            }
            // Another committer may have taken everything while this one lingered.
            if (queue_.empty()) continue;
            // An all-or-nothing request goes alone; independent ones join until the next would
            // pass batch_max (the first is always taken, whatever its size).
            std::size_t commands = 0;
            while (!queue_.empty()) {
                Waiting* next = queue_.front();
                const bool alone = next->atomicity == domain::Atomicity::kAllOrNothing;
                if (!batch.empty() &&
                    (alone || commands + next->commands.size() > settings_.batch_max)) {
                    break;
                }
                batch.push_back(next);
                queue_.pop_front();
                commands += next->commands.size();
                queued_commands_ -= next->commands.size();
                if (alone) break;
            }
        }
        // Others may still be queued: let another committer take them while this one works.
        arrived_.notify_one();
        Commit(batch);
        batch.clear();
    }
}

void GroupCommitter::Commit(std::vector<Waiting*>& batch) {
    PAY_ASSERT(!batch.empty());
    PAY_ASSERT(batch.front()->atomicity == domain::Atomicity::kIndependent || batch.size() == 1);
    try {
        CommitTogether(batch);
        return;
    } catch (const std::exception& error) {
        // The database cannot do the work now: every request of the batch gets that answer.
        if (batch.size() == 1 || commons::IsTransientDatabaseError(error)) {
            for (auto* waiting : batch) waiting->promise.set_exception(std::current_exception());
            return;
        }
        isolated_.Increment();
    } catch (...) {
        for (auto* waiting : batch) waiting->promise.set_exception(std::current_exception());
        return;
    }
    // Something in the batch was refused (the transaction rolled back whole): each request runs
    // in a transaction of its own, so the one that fails alone gets its error and its
    // batch-mates are committed.
    for (auto* waiting : batch) {
        try {
            CommitTogether({waiting});
        } catch (...) {
            waiting->promise.set_exception(std::current_exception());
        }
    }
}

void GroupCommitter::CommitTogether(const std::vector<Waiting*>& batch) {
    const domain::Atomicity atomicity = batch.front()->atomicity;
    if (batch.size() == 1) {
        batch_size_.Observe(static_cast<double>(batch.front()->commands.size()));
        batch.front()->promise.set_value(execute_(batch.front()->commands, atomicity));
        return;
    }
    std::size_t total = 0;
    for (auto* waiting : batch) total += waiting->commands.size();
    std::vector<domain::Command> commands;
    commands.reserve(total);
    for (auto* waiting : batch) {
        commands.insert(commands.end(), waiting->commands.begin(), waiting->commands.end());
    }
    batch_size_.Observe(static_cast<double>(commands.size()));
    BatchResult result = execute_(commands, atomicity);
    PAY_ASSERT(result.outcome.results.size() == total);
    std::size_t next = 0;
    for (auto* waiting : batch) {
        BatchResult own;
        for (std::size_t i = 0; i < waiting->commands.size(); ++i, ++next) {
            const auto& command_result = result.outcome.results[next];
            own.outcome.results.push_back(command_result);
            if (auto found = result.transactions.find(command_result.transaction_id);
                found != result.transactions.end()) {
                own.transactions.insert(*found);
            }
        }
        waiting->promise.set_value(std::move(own));
    }
}

}  // namespace ledger::app
