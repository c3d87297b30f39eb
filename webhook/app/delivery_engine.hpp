#pragma once

// The delivery engine: claims due deliveries from PostgreSQL under a lease, sends them signed
// per the Standard Webhooks spec, and records each attempt's outcome (docs/webhook.md,
// "Delivery").
//
//   dispatcher (1 thread)  claims batches of due deliveries, as many as there are free send
//                          slots, leaving out endpoints found out of rate tokens;
//   attempts (N at once)   asynchronous HTTP attempts on the client's io thread, no redirects,
//                          bounded time and body; each one that ends starts the next queued;
//   recorder (1 thread)    writes finished attempts in batches, then wakes the dispatcher
//                          (an ordered endpoint's next delivery waits for that record).
//
// PostgreSQL is the truth: a delivery is in flight only while its lease holds, so a crashed
// replica's deliveries are sent again by another once their leases expire, and two replicas
// never hold the same delivery at once.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "webhook/domain/policy.hpp"
#include "webhook/store/webhook_store.hpp"

namespace commons {
class Logger;
class Metrics;
namespace http {
class HttpClient;
}
}  // namespace commons

namespace webhook::app {

struct EngineSettings {
    std::size_t senders = 64;           // attempts in flight per replica (not threads)
    std::size_t claim_batch_max = 200;  // deliveries per claim transaction
    // Claimed deliveries that may wait for room among the attempts in flight. Only the intake
    // fills this far (it leases a fresh event's deliveries as it stores them); the dispatcher
    // claims only for room among the attempts.
    std::size_t queued_max = 64;
    std::size_t record_batch_max = 500;
    // How long the recorder waits for more finished attempts while others are running.
    std::chrono::microseconds record_linger{2000};
    std::chrono::milliseconds poll_interval{250};  // how soon another replica's work is seen
    // A claimed delivery is ours this long. Must exceed the request timeout by a margin, so a
    // lease never ends while its attempt can still be running.
    std::chrono::milliseconds lease{60'000};
    std::chrono::milliseconds connect_timeout{5'000};
    std::chrono::milliseconds request_timeout{15'000};
    std::size_t response_body_bytes_max = 4096;  // read and logged; the rest is dropped
    bool allow_private_targets = false;
    std::string ca_file;  // empty: the system's trusted CAs
    std::int32_t default_max_in_flight = 32;
    // An endpoint out of rate-limit tokens is skipped this long.
    std::chrono::milliseconds saturated_pause{50};
    store::RecordSettings record;  // schedule, Retry-After bound, health policy
};

class DeliveryEngine {
  public:
    using Clock = std::function<domain::Micros()>;  // microseconds since the Unix epoch

    // `store`, `logger` and `metrics` must outlive the engine. Throws std::runtime_error when
    // the CA file cannot be loaded.
    DeliveryEngine(store::PgWebhookStore& store, EngineSettings settings, Clock clock,
                   commons::Logger& logger, commons::Metrics& metrics);
    ~DeliveryEngine();  // Stop()s
    DeliveryEngine(const DeliveryEngine&) = delete;
    DeliveryEngine& operator=(const DeliveryEngine&) = delete;

    void Start();
    // Stops claiming, lets attempts in flight finish (waiting at most the request timeout plus
    // 5 s; one still running after that ends with the client, unrecorded, and its lease
    // expires), records them, gives back the leases of claimed deliveries not yet sent (so
    // another replica may send them at once; if that fails, their leases expire) and joins.
    // Idempotent.
    void Stop();
    // New deliveries may be due (intake, retry, recover, an injected clock moved): claim now.
    void Wake();

    // What the intake may lease to this engine now: ClaimSettings whose limit is the room left
    // for claimed deliveries (0 when full or stopping).
    store::ClaimSettings LeaseOffer();
    // Takes deliveries leased to this engine (by the intake) and sends them.
    void Send(std::vector<store::ClaimedDelivery> deliveries);

    const EngineSettings& settings() const { return settings_; }

  private:
    struct Counters;

    void Dispatch();
    // Starts queued deliveries while fewer than `senders` attempts are in flight. Called with
    // `lock` held (on mutex_); unlocks it while starting each.
    void Launch(std::unique_lock<std::mutex>& lock);
    // Starts the attempt; returns its result when it ended at once (no request could be made).
    std::optional<store::AttemptResult> StartAttempt(const store::ClaimedDelivery& delivery);
    void RecordLoop();
    // Records each attempt of a batch the database refused in a transaction of its own; drops
    // (logs and counts) one refused alone. Returns those that failed for a transient reason.
    std::vector<store::AttemptResult> RecordOneByOne(std::vector<store::AttemptResult> batch,
                                                     const std::function<double()>& unit_random,
                                                     const std::exception& batch_error);
    store::ClaimSettings ClaimSettingsFor(std::size_t limit) const;
    void ReleaseUnsent();

    store::PgWebhookStore& store_;
    EngineSettings settings_;
    Clock clock_;
    commons::Logger& logger_;
    std::unique_ptr<Counters> counters_;

    std::mutex mutex_;
    std::condition_variable dispatcher_wakeup_;
    std::condition_variable idle_wakeup_;  // the last attempt in flight ended
    std::condition_variable recorder_wakeup_;
    bool stopping_ = false;
    bool attempts_done_ = false;
    bool wake_ = false;
    std::deque<store::ClaimedDelivery> to_send_;
    std::size_t sending_ = 0;
    std::deque<store::AttemptResult> to_record_;
    std::map<std::string, std::chrono::steady_clock::time_point> paused_endpoints_;

    std::thread dispatcher_;
    std::thread recorder_;
    // Last, so it is destroyed first: an attempt still running then (Stop() waits for them,
    // within bounds) ends with kShuttingDown while everything its completion touches exists.
    std::unique_ptr<commons::http::HttpClient> client_;
};

// Microseconds since the Unix epoch from the system clock.
domain::Micros SystemMicros();

}  // namespace webhook::app
