#pragma once

// The retention worker: every interval, removes what is older than the retention period
// (PgWebhookStore::Purge; docs/webhook.md, "Retention").

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "webhook/domain/policy.hpp"
#include "webhook/store/webhook_store.hpp"

namespace commons {
class Logger;
class Metrics;
}  // namespace commons

namespace webhook::app {

struct PurgeWorkerSettings {
    std::chrono::milliseconds retention{std::chrono::hours(24 * 30)};
    std::chrono::milliseconds interval{std::chrono::minutes(10)};
};

class PurgeWorker {
  public:
    using Clock = std::function<domain::Micros()>;
    // `store`, `logger` and `metrics` must outlive the worker.
    PurgeWorker(store::PgWebhookStore& store, PurgeWorkerSettings settings, Clock clock,
                commons::Logger& logger, commons::Metrics& metrics);
    ~PurgeWorker();  // Stop()s
    PurgeWorker(const PurgeWorker&) = delete;
    PurgeWorker& operator=(const PurgeWorker&) = delete;

    // The first pass runs at once, then one every interval (sooner while a pass left work).
    void Start();
    void Stop();
    // One pass now, on the caller's thread (it ends early once Stop() is called); what it
    // removed.
    store::PurgeCounts RunOnce();

  private:
    struct Counters;
    void Run();

    store::PgWebhookStore& store_;
    PurgeWorkerSettings settings_;
    Clock clock_;
    commons::Logger& logger_;
    std::unique_ptr<Counters> counters_;
    std::mutex mutex_;
    std::condition_variable wakeup_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace webhook::app
