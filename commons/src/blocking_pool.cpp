#include "commons/blocking_pool.hpp"

#include "commons/assert.hpp"

namespace commons {

BlockingPool::BlockingPool(std::size_t threads, std::size_t queued_tasks_max)
    : queued_tasks_max_(queued_tasks_max) {
    PAY_ASSERT(threads > 0 && queued_tasks_max > 0);
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

BlockingPool::~BlockingPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wakeup_.notify_all();
    for (auto& worker : workers_) worker.join();
}

bool BlockingPool::TrySubmit(std::function<void()>& task) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || queue_.size() >= queued_tasks_max_) return false;
        queue_.push_back(std::move(task));
    }
    wakeup_.notify_one();
    return true;
}

void BlockingPool::Submit(std::function<void()> task) {
    if (!TrySubmit(task)) throw OverloadedError("blocking pool queue is full");
}

std::size_t BlockingPool::queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

void BlockingPool::Work() {
    for (;;) {
        std::function<void()> task;
        {
            std::unique_lock lock(mutex_);
            wakeup_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping and drained
            task = std::move(queue_.front());
            queue_.pop_front();
        }
        // Tasks own their error handling; one that throws is a programmer error.
        task();
    }
}

}  // namespace commons
