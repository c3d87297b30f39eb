#include "webhook/app/intake.hpp"

#include "commons/events.hpp"
#include "commons/log.hpp"
#include "webhook/app/delivery_engine.hpp"

namespace webhook::app {

std::size_t EventIntake::Add(const std::vector<commons::Event>& events) {
    std::vector<store::IncomingEvent> incoming;
    incoming.reserve(events.size());
    for (const auto& event : events) {
        incoming.push_back(
            {event.id, event.type, event.source, event.created, commons::FormatEnvelope(event)});
    }
    return StoreEvents(store_, engine_, incoming, clock_());
}

std::size_t StoreEvents(store::PgWebhookStore& store, DeliveryEngine& engine,
                        const std::vector<store::IncomingEvent>& events, domain::Micros now) {
    const store::ClaimSettings offer = engine.LeaseOffer();
    store::AddedEvents added = store.AddEvents(events, now, offer.limit > 0 ? &offer : nullptr);
    if (added.left_unleased) engine.Wake();
    engine.Send(std::move(added.leased));
    return added.deliveries;
}

void InboundHandlers::Register(std::string pattern, std::string name, Handler handler) {
    entries_.push_back({std::move(pattern), std::move(name), std::move(handler)});
}

store::PgWebhookStore::InboundOutcome InboundHandlers::Dispatch(
    const store::InboundEvent& event) const {
    const Entry* best = nullptr;
    std::size_t best_length = 0;
    for (const auto& entry : entries_) {
        if (entry.pattern == event.type) {
            best = &entry;
            break;
        }
        const auto& p = entry.pattern;
        if (p.size() > 2 && p.compare(p.size() - 2, 2, ".*") == 0 &&
            event.type.size() > p.size() - 1 &&
            event.type.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0 &&
            p.size() > best_length) {
            best = &entry;
            best_length = p.size();
        }
    }
    if (best == nullptr) return {.processed = true};
    try {
        best->handler(event);
        return {.processed = true, .handler = best->name};
    } catch (const std::exception& error) {
        return {.processed = false, .handler = best->name, .error = error.what()};
    }
}

InboundWorker::InboundWorker(store::PgWebhookStore& store, const InboundHandlers& handlers,
                             Clock clock, commons::Logger& logger,
                             std::chrono::milliseconds poll_interval)
    : store_(store),
      handlers_(handlers),
      clock_(std::move(clock)),
      logger_(logger),
      poll_interval_(poll_interval) {}

InboundWorker::~InboundWorker() { Stop(); }

void InboundWorker::Start() {
    thread_ = std::thread([this] { Run(); });
}

void InboundWorker::Stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wakeup_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void InboundWorker::Wake() {
    {
        std::lock_guard lock(mutex_);
        wake_ = true;
    }
    wakeup_.notify_all();
}

void InboundWorker::Run() {
    using namespace std::chrono_literals;
    std::chrono::milliseconds backoff{0};
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wakeup_.wait_for(lock, backoff.count() > 0 ? backoff : poll_interval_,
                         [&] { return stopping_ || (wake_ && backoff.count() == 0); });
        if (stopping_) break;
        wake_ = false;
        lock.unlock();
        try {
            // Work through everything due, then wait again.
            std::size_t handled = 0;
            while (handled < 1000 && store_.ProcessOneInbound(clock_(), [&](const auto& event) {
                auto outcome = handlers_.Dispatch(event);
                if (!outcome.processed) {
                    logger_.Warn("inbound event handler failed; it will be tried again",
                                 {{"event_id", event.id},
                                  {"type", event.type},
                                  {"handler", outcome.handler},
                                  {"attempts", event.attempts + 1},
                                  {"error", outcome.error}});
                }
                return outcome;
            })) {
                ++handled;
                std::lock_guard stop_check(mutex_);
                if (stopping_) break;
            }
            backoff = 0ms;
            if (handled >= 1000) {
                std::lock_guard more(mutex_);
                wake_ = true;  // more may be due: go on after letting Stop() in
            }
        } catch (const std::exception& error) {
            if (backoff.count() == 0) {
                logger_.Warn("cannot dispatch inbound events; retrying with backoff",
                             {{"error", error.what()}});
            }
            backoff =
                std::min<std::chrono::milliseconds>(5s, backoff.count() == 0 ? 100ms : backoff * 2);
        }
        lock.lock();
    }
}

}  // namespace webhook::app
