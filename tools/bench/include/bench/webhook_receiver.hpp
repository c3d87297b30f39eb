#pragma once

// The webhook endpoint `bench webhook` subscribes: an HTTP/1.1 keep-alive server on 127.0.0.1
// that answers every POST 200 at once and records, per (event, endpoint), when its first
// attempt arrived, in the DeliveryBook of the scenario being run.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/webhook_book.hpp"

namespace bench {

// Counts of requests that did not go into a book.
struct ReceiverCounters {
    std::uint64_t stray = 0;      // for another run, another scenario, or after Finish
    std::uint64_t malformed = 0;  // no webhook-id header, a bad endpoint index, or no bench payload
};

class WebhookReceiver {
  public:
    // `run` marks this run's paths: /hooks/<run>/<scenario>/<endpoint index>. Precondition:
    // `run` is 1 to 32 characters of [a-z0-9]. `port` 0 picks a free one.
    WebhookReceiver(std::string run, std::uint16_t port);
    ~WebhookReceiver();  // stops the server
    WebhookReceiver(const WebhookReceiver&) = delete;
    WebhookReceiver& operator=(const WebhookReceiver&) = delete;

    // Binds 127.0.0.1 and starts serving; returns the port. Throws std::system_error when the
    // port cannot be bound.
    std::uint16_t Start();
    void Stop();

    // "http://127.0.0.1:<port>". Precondition: started.
    std::string BaseUrl() const;
    // The URL endpoint `endpoint` of `scenario` is subscribed with:
    // <BaseUrl>/hooks/<run>/<scenario>/<endpoint>. Precondition: started.
    std::string Url(std::string_view scenario, std::uint32_t endpoint) const;

    // Microseconds since the receiver was made, on the steady clock: the clock of every
    // publish and arrival time.
    Micros Now() const;

    // From now on, records deliveries to `scenario`'s endpoints in a new book of `endpoints` ×
    // `capacity`, and awaits priming round `prime_round`. Arrivals for anything else are stray.
    void Begin(std::string scenario, std::uint32_t endpoints, std::uint64_t capacity,
               std::uint64_t prime_round);

    // DeliveryBook::Published and Retract, under the receiver's lock. Precondition: Begin.
    void Published(std::uint64_t seq, Micros at_us);
    void Retract(std::uint64_t seq);

    // Waits until every endpoint got the priming event, `deadline` passes or `stop` is set
    // (looked at every kStopCheck). Returns how many endpoints got it.
    std::uint32_t WaitForPrime(std::chrono::steady_clock::time_point deadline,
                               const std::atomic<bool>& stop);

    // Waits until every published event arrived at every endpoint, `deadline` passes or `stop`
    // is set. Returns whether all arrived. Call once publishing has ended.
    bool WaitForAll(std::chrono::steady_clock::time_point deadline, const std::atomic<bool>& stop);

    // Ends the scenario: returns its book; later arrivals for it are stray.
    // Precondition: Begin.
    DeliveryBook Finish();

    ReceiverCounters counters() const;

    // How often waits look at the stop flag: a signal handler cannot notify a condition
    // variable, so an interrupt is noticed within this time.
    static constexpr std::chrono::milliseconds kStopCheck{100};

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace bench
