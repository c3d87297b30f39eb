#include "webhook/app/purge.hpp"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "commons/log.hpp"
#include "commons/metrics.hpp"

namespace webhook::app {

using namespace std::chrono_literals;

struct PurgeWorker::Counters {
    explicit Counters(commons::Metrics& metrics)
        : family(prometheus::BuildCounter()
                     .Name("webhook_purged_total")
                     .Help("Rows removed for retention: deliveries (of which expired: still "
                           "pending), attempts, events, inbound_events")
                     .Register(metrics.registry())),
          expired(family.Add({{"what", "expired"}})),
          deliveries(family.Add({{"what", "deliveries"}})),
          attempts(family.Add({{"what", "attempts"}})),
          events(family.Add({{"what", "events"}})),
          inbound_events(family.Add({{"what", "inbound_events"}})) {}

    prometheus::Family<prometheus::Counter>& family;
    prometheus::Counter& expired;
    prometheus::Counter& deliveries;
    prometheus::Counter& attempts;
    prometheus::Counter& events;
    prometheus::Counter& inbound_events;
};

PurgeWorker::PurgeWorker(store::PgWebhookStore& store, PurgeWorkerSettings settings, Clock clock,
                         commons::Logger& logger, commons::Metrics& metrics)
    : store_(store),
      settings_(settings),
      clock_(std::move(clock)),
      logger_(logger),
      counters_(std::make_unique<Counters>(metrics)) {}

PurgeWorker::~PurgeWorker() { Stop(); }

void PurgeWorker::Start() {
    thread_ = std::thread([this] { Run(); });
}

void PurgeWorker::Stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wakeup_.notify_all();
    if (thread_.joinable()) thread_.join();
}

store::PurgeCounts PurgeWorker::RunOnce() {
    store::PurgeSettings purge;
    purge.now = clock_();
    purge.cutoff = purge.now - static_cast<domain::Micros>(settings_.retention.count()) * 1000;
    store::PurgeCounts counts = store_.Purge(purge, [this] {
        std::lock_guard lock(mutex_);
        return stopping_;
    });
    counters_->expired.Increment(static_cast<double>(counts.expired));
    counters_->deliveries.Increment(static_cast<double>(counts.deliveries));
    counters_->attempts.Increment(static_cast<double>(counts.attempts));
    counters_->events.Increment(static_cast<double>(counts.events));
    counters_->inbound_events.Increment(static_cast<double>(counts.inbound_events));
    if (counts.expired + counts.deliveries + counts.events + counts.inbound_events > 0) {
        logger_.Info("purged what is older than the retention period",
                     {{"expired", counts.expired},
                      {"deliveries", counts.deliveries},
                      {"attempts", counts.attempts},
                      {"events", counts.events},
                      {"inbound_events", counts.inbound_events},
                      {"more", counts.more}});
    }
    return counts;
}

void PurgeWorker::Run() {
    std::chrono::milliseconds wait{0};
    std::unique_lock lock(mutex_);
    while (!wakeup_.wait_for(lock, wait, [&] { return stopping_; })) {
        lock.unlock();
        try {
            // Left work: go on soon, but let the delivery path have the database in between.
            wait = RunOnce().more ? std::min<std::chrono::milliseconds>(settings_.interval, 1s)
                                  : settings_.interval;
        } catch (const std::exception& error) {
            logger_.Warn("cannot purge for retention; trying again after the interval",
                         {{"error", error.what()}});
            wait = settings_.interval;
        }
        lock.lock();
    }
}

}  // namespace webhook::app
