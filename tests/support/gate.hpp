#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace test_support {

// A gate that handlers wait on until the test opens it; counts who reached it, so a test can
// wait (with a deadline) until requests are known to be in flight.
class Gate {
  public:
    void Wait() {
        std::unique_lock lock(mutex_);
        ++waiting_;
        changed_.notify_all();
        changed_.wait(lock, [this] { return open_; });
    }
    void Open() {
        std::lock_guard lock(mutex_);
        open_ = true;
        changed_.notify_all();
    }
    // False when fewer than `count` reached the gate within `timeout`.
    bool WaitForWaiters(int count, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return waiting_ >= count; });
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int waiting_ = 0;
    bool open_ = false;
};

}  // namespace test_support
