#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace commons {

// Thrown when a BlockingPool's queue is full: the caller should answer 503, not wait.
class OverloadedError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A fixed set of threads for work that blocks (libpqxx, hiredis), so it never runs on the
// io_context threads. The number of queued plus running tasks is bounded; Submit() past the
// bound throws OverloadedError instead of queueing without limit.
class BlockingPool {
  public:
    BlockingPool(std::size_t threads, std::size_t queued_tasks_max);
    ~BlockingPool();  // runs the tasks already queued, then joins
    BlockingPool(const BlockingPool&) = delete;
    BlockingPool& operator=(const BlockingPool&) = delete;

    // Queues `task`; false (and `task` untouched) when the queue is full or the pool stops.
    bool TrySubmit(std::function<void()>& task);
    // Like TrySubmit, but throws OverloadedError when the task cannot be queued.
    void Submit(std::function<void()> task);

    std::size_t queued() const;
    std::size_t threads() const { return workers_.size(); }

  private:
    void Work();

    std::size_t queued_tasks_max_;
    mutable std::mutex mutex_;
    std::condition_variable wakeup_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};

}  // namespace commons
