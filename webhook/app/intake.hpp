#pragma once

// How events and processor webhooks enter the webhook service:
//   EventIntake      events of the stream (or POST /v1/events) stored with their deliveries;
//   InboundHandlers  who handles which Stripe event type (payin and payout register theirs);
//   InboundWorker    dispatches stored Stripe events to their handlers after the 2xx went out.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "webhook/store/webhook_store.hpp"

namespace commons {
struct Event;
class Logger;
}  // namespace commons

namespace webhook::app {

class DeliveryEngine;

// Stores events and their deliveries in one transaction. Those the engine has room for are
// claimed for it in the same transaction and sent at once; the rest wait for
// the engine's claims, which it is woken for. Returns the deliveries created.
std::size_t StoreEvents(store::PgWebhookStore& store, DeliveryEngine& engine,
                        const std::vector<store::IncomingEvent>& events, domain::Micros now);

// Stores events and their deliveries in one transaction (StoreEvents). The stream
// consumer acks a read only after Add() returned, so a crash in between re-reads it and the
// event's id keeps it from being stored twice.
class EventIntake {
  public:
    using Clock = std::function<domain::Micros()>;
    EventIntake(store::PgWebhookStore& store, DeliveryEngine& engine, Clock clock)
        : store_(store), engine_(engine), clock_(std::move(clock)) {}

    // Returns the deliveries created.
    std::size_t Add(const std::vector<commons::Event>& events);

  private:
    store::PgWebhookStore& store_;
    DeliveryEngine& engine_;
    Clock clock_;
};

// Handlers by event type. A pattern is an exact type ("charge.dispute.created") or a prefix
// ending in ".*" ("payout.*"); the exact match wins, then the longest prefix. A handler throws
// to have the event tried again later.
class InboundHandlers {
  public:
    using Handler = std::function<void(const store::InboundEvent&)>;

    // Precondition: `name` is not empty. Called before the worker starts.
    void Register(std::string pattern, std::string name, Handler handler);
    // Runs the matching handler; processed without a handler when none matches.
    store::PgWebhookStore::InboundOutcome Dispatch(const store::InboundEvent& event) const;

  private:
    struct Entry {
        std::string pattern;
        std::string name;
        Handler handler;
    };
    std::vector<Entry> entries_;
};

class InboundWorker {
  public:
    using Clock = std::function<domain::Micros()>;
    InboundWorker(store::PgWebhookStore& store, const InboundHandlers& handlers, Clock clock,
                  commons::Logger& logger, std::chrono::milliseconds poll_interval);
    ~InboundWorker();  // Stop()s

    void Start();
    void Stop();
    void Wake();

  private:
    void Run();

    store::PgWebhookStore& store_;
    const InboundHandlers& handlers_;
    Clock clock_;
    commons::Logger& logger_;
    std::chrono::milliseconds poll_interval_;
    std::mutex mutex_;
    std::condition_variable wakeup_;
    bool stopping_ = false;
    bool wake_ = false;
    std::thread thread_;
};

}  // namespace webhook::app
