#include "webhook/app/delivery_engine.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <random>

#include "commons/db.hpp"
#include "commons/http/client.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "commons/text.hpp"
#include "webhook/domain/signatures.hpp"

namespace webhook::app {

namespace {

using namespace std::chrono_literals;

// An attempt's error text is kept for the attempt log: a sentence, not a document.
constexpr std::size_t kAttemptErrorBytesMax = 1000;

std::string_view OutcomeName(domain::AttemptOutcome outcome) {
    switch (outcome) {
        case domain::AttemptOutcome::kSucceeded:
            return "succeeded";
        case domain::AttemptOutcome::kFailed:
            return "failed";
        case domain::AttemptOutcome::kGone:
            return "gone";
        case domain::AttemptOutcome::kThrottled:
            return "throttled";
    }
    return "failed";
}

commons::http::ClientSettings ClientSettingsFor(const EngineSettings& settings) {
    commons::http::ClientSettings client;
    client.connect_timeout = settings.connect_timeout;
    client.request_timeout = settings.request_timeout;
    client.connections_per_host_max = settings.senders;
    client.response_body_bytes_max = settings.response_body_bytes_max;
    client.attempts_max = 1;  // our own schedule retries, not the client
    client.address_policy = settings.allow_private_targets
                                ? commons::http::AddressPolicy::kAllowAll
                                : commons::http::AddressPolicy::kPublicOnly;
    client.ca_file = settings.ca_file;
    client.user_agent = "payments-platform-webhooks/1";
    return client;
}

}  // namespace

domain::Micros SystemMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct DeliveryEngine::Counters {
    explicit Counters(commons::Metrics& metrics)
        : attempts(prometheus::BuildCounter()
                       .Name("webhook_attempts_total")
                       .Help("Delivery attempts by outcome: succeeded, failed, gone, throttled")
                       .Register(metrics.registry())),
          record_failures(prometheus::BuildCounter()
                              .Name("webhook_engine_failures_total")
                              .Help("Failed claim or record transactions of the delivery engine")
                              .Register(metrics.registry())),
          stale_claims(prometheus::BuildCounter()
                           .Name("webhook_stale_claims_total")
                           .Help("Claimed deliveries not sent because their lease would end "
                                 "before the attempt could")
                           .Register(metrics.registry())
                           .Add({})),
          latency(prometheus::BuildHistogram()
                      .Name("webhook_attempt_duration_seconds")
                      .Help("Time from sending a delivery to its response or failure")
                      .Register(metrics.registry())
                      .Add({}, prometheus::Histogram::BucketBoundaries{
                                   0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15})) {}

    prometheus::Family<prometheus::Counter>& attempts;
    prometheus::Family<prometheus::Counter>& record_failures;
    prometheus::Counter& stale_claims;
    prometheus::Histogram& latency;
};

DeliveryEngine::DeliveryEngine(store::PgWebhookStore& store, EngineSettings settings, Clock clock,
                               commons::Logger& logger, commons::Metrics& metrics)
    : store_(store),
      settings_(std::move(settings)),
      clock_(std::move(clock)),
      logger_(logger),
      counters_(std::make_unique<Counters>(metrics)),
      client_(std::make_unique<commons::http::HttpClient>(ClientSettingsFor(settings_), logger)) {}

DeliveryEngine::~DeliveryEngine() { Stop(); }

void DeliveryEngine::Start() {
    dispatcher_ = std::thread([this] { Dispatch(); });
    recorder_ = std::thread([this] { RecordLoop(); });
}

void DeliveryEngine::Stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !dispatcher_.joinable()) return;
        stopping_ = true;
    }
    dispatcher_wakeup_.notify_all();
    if (dispatcher_.joinable()) dispatcher_.join();
    {
        // Attempts end by their own deadline; the margin covers a name lookup that overruns
        // it. One still running after that ends when the client is destroyed.
        std::unique_lock lock(mutex_);
        if (!idle_wakeup_.wait_for(lock, settings_.request_timeout + 5s,
                                   [&] { return sending_ == 0; })) {
            logger_.Warn("attempts still running at shutdown; their leases will expire",
                         {{"attempts", sending_}});
        }
    }
    ReleaseUnsent();
    {
        std::lock_guard lock(mutex_);
        attempts_done_ = true;
    }
    recorder_wakeup_.notify_all();
    if (recorder_.joinable()) recorder_.join();
}

void DeliveryEngine::Wake() {
    {
        std::lock_guard lock(mutex_);
        wake_ = true;
    }
    dispatcher_wakeup_.notify_one();
}

store::ClaimSettings DeliveryEngine::ClaimSettingsFor(std::size_t limit) const {
    store::ClaimSettings claim;
    claim.limit = limit;
    claim.lease_us = static_cast<domain::Micros>(settings_.lease.count()) * 1000;
    claim.default_max_in_flight = settings_.default_max_in_flight;
    claim.health = settings_.record.health;
    return claim;
}

store::ClaimSettings DeliveryEngine::LeaseOffer() {
    std::size_t room = 0;
    {
        std::lock_guard lock(mutex_);
        const std::size_t capacity = settings_.senders + settings_.queued_max;
        const std::size_t busy = to_send_.size() + sending_;
        if (!stopping_ && busy < capacity) room = capacity - busy;
    }
    return ClaimSettingsFor(std::min(room, settings_.claim_batch_max));
}

void DeliveryEngine::Send(std::vector<store::ClaimedDelivery> deliveries) {
    if (deliveries.empty()) return;
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            for (auto& delivery : deliveries) to_send_.push_back(std::move(delivery));
            deliveries.clear();
        }
    }
    if (deliveries.empty()) {
        std::unique_lock lock(mutex_);
        Launch(lock);
        return;
    }
    // Stopping: nobody will send these; give them back to any replica.
    try {
        store_.ReleaseLeases(deliveries);
    } catch (const std::exception& error) {
        logger_.Warn("cannot give back leases at shutdown; they will expire",
                     {{"error", error.what()}, {"deliveries", deliveries.size()}});
    }
}

void DeliveryEngine::ReleaseUnsent() {
    std::vector<store::ClaimedDelivery> unsent;
    {
        std::lock_guard lock(mutex_);
        unsent.assign(std::make_move_iterator(to_send_.begin()),
                      std::make_move_iterator(to_send_.end()));
        to_send_.clear();
    }
    if (unsent.empty()) return;
    try {
        const std::size_t released = store_.ReleaseLeases(unsent);
        logger_.Info("gave back the leases of deliveries not sent before stopping",
                     {{"deliveries", released}});
    } catch (const std::exception& error) {
        logger_.Warn("cannot give back leases at shutdown; they will expire",
                     {{"error", error.what()}, {"deliveries", unsent.size()}});
    }
}

void DeliveryEngine::Dispatch() {
    // One claim transaction per batch of deliveries, not per finished attempt.
    const std::size_t claim_at = std::max<std::size_t>(1, settings_.senders / 4);
    std::chrono::milliseconds backoff{0};
    bool hungry = true;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        auto free = [&] {
            return settings_.senders - std::min(settings_.senders, to_send_.size() + sending_);
        };
        auto busy = [&] { return to_send_.size() + sending_; };
        // Claim when told work is due (at once when idle, else once a quarter of the slots are
        // free, so a busy engine claims in batches), when the last claim was full (more is
        // due), or when the poll interval passes (another replica's work, retries coming due).
        dispatcher_wakeup_.wait_for(lock, backoff.count() > 0 ? backoff : settings_.poll_interval,
                                    [&] {
                                        if (stopping_) return true;
                                        if (backoff.count() > 0 || free() == 0) return false;
                                        return (wake_ && (busy() == 0 || free() >= claim_at)) ||
                                               (hungry && free() >= claim_at);
                                    });
        if (stopping_) break;
        const std::size_t slots = free();
        if (slots == 0) continue;
        wake_ = false;
        const auto steady_now = std::chrono::steady_clock::now();
        std::vector<std::string> excluded;
        for (auto it = paused_endpoints_.begin(); it != paused_endpoints_.end();) {
            if (it->second <= steady_now) {
                it = paused_endpoints_.erase(it);
            } else {
                excluded.push_back(it->first);
                ++it;
            }
        }
        lock.unlock();
        const store::ClaimSettings claim =
            ClaimSettingsFor(std::min(slots, settings_.claim_batch_max));
        store::ClaimResult result;
        bool failed = false;
        try {
            result = store_.Claim(clock_(), excluded, claim);
        } catch (const std::exception& error) {
            failed = true;
            counters_->record_failures.Add({{"step", "claim"}}).Increment();
            if (backoff.count() == 0) {
                logger_.Warn("cannot claim deliveries; retrying with backoff",
                             {{"error", error.what()}});
            }
        }
        lock.lock();
        if (failed) {
            backoff =
                std::min<std::chrono::milliseconds>(5s, backoff.count() == 0 ? 100ms : backoff * 2);
            continue;
        }
        backoff = 0ms;
        hungry = result.deliveries.size() >= claim.limit;
        const auto pause_until = std::chrono::steady_clock::now() + settings_.saturated_pause;
        for (const auto& endpoint : result.saturated_endpoints) {
            paused_endpoints_[endpoint] = pause_until;
        }
        for (auto& delivery : result.deliveries) to_send_.push_back(std::move(delivery));
        Launch(lock);
    }
}

void DeliveryEngine::Launch(std::unique_lock<std::mutex>& lock) {
    while (!stopping_ && sending_ < settings_.senders && !to_send_.empty()) {
        store::ClaimedDelivery delivery = std::move(to_send_.front());
        to_send_.pop_front();
        // An attempt must end while the lease holds, or another replica could be sending the
        // same delivery. One that waited too long is left for its lease to expire.
        const domain::Micros must_end_by =
            clock_() + static_cast<domain::Micros>(settings_.request_timeout.count()) * 1000;
        if (delivery.lease_until_us < must_end_by) {
            counters_->stale_claims.Increment();
            logger_.Warn("a claimed delivery waited too long to be sent; its lease will expire",
                         {{"delivery_id", delivery.delivery_id}});
            continue;
        }
        ++sending_;
        lock.unlock();
        std::optional<store::AttemptResult> ended = StartAttempt(delivery);
        lock.lock();
        if (ended) {
            --sending_;
            to_record_.push_back(std::move(*ended));
            recorder_wakeup_.notify_one();
            dispatcher_wakeup_.notify_one();
        }
    }
    if (sending_ == 0) idle_wakeup_.notify_all();
}

void DeliveryEngine::RecordLoop() {
    std::mt19937_64 random{std::random_device{}()};
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const std::function<double()> unit_random = [&] { return unit(random); };
    std::chrono::milliseconds backoff{0};
    std::unique_lock lock(mutex_);
    for (;;) {
        recorder_wakeup_.wait_for(lock, backoff.count() > 0 ? backoff : 1h, [&] {
            return backoff.count() == 0 && (!to_record_.empty() || attempts_done_);
        });
        if (to_record_.empty()) {
            if (attempts_done_) return;
            continue;
        }
        // While attempts are still running, give them a moment to finish so one transaction
        // records many: a short linger instead of one transaction per attempt.
        if (sending_ > 0 && settings_.record_linger.count() > 0 && !attempts_done_) {
            recorder_wakeup_.wait_for(lock, settings_.record_linger, [&] {
                return to_record_.size() >= settings_.record_batch_max || attempts_done_;
            });
        }
        std::vector<store::AttemptResult> batch;
        while (!to_record_.empty() && batch.size() < settings_.record_batch_max) {
            batch.push_back(std::move(to_record_.front()));
            to_record_.pop_front();
        }
        lock.unlock();
        bool recorded = false;
        try {
            store_.RecordResults(batch, settings_.record, unit_random);
            recorded = true;
        } catch (const std::exception& error) {
            counters_->record_failures.Add({{"step", "record"}}).Increment();
            if (commons::IsTransientDatabaseError(error)) {
                logger_.Warn("cannot record delivery attempts; retrying with backoff",
                             {{"error", error.what()}, {"attempts", batch.size()}});
            } else {
                // The database refused something in the batch: record each attempt on its own,
                // so one that cannot be recorded never holds up the others. Those that failed
                // for a transient reason are retried below with the backoff.
                batch = RecordOneByOne(std::move(batch), unit_random, error);
                recorded = batch.empty();
            }
        }
        lock.lock();
        if (!recorded) {
            // Kept in order for the next try; if the leases end first, another replica sends
            // those deliveries again and these records are refused by the lease check.
            for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
                to_record_.push_front(std::move(*it));
            }
            if (attempts_done_ && stopping_ && backoff >= 2s) {
                logger_.Error("giving up recording attempts at shutdown; their leases will expire",
                              {{"attempts", to_record_.size()}});
                return;
            }
            backoff =
                std::min<std::chrono::milliseconds>(5s, backoff.count() == 0 ? 100ms : backoff * 2);
            continue;
        }
        backoff = 0ms;
        wake_ = true;
        dispatcher_wakeup_.notify_one();
    }
}

std::vector<store::AttemptResult> DeliveryEngine::RecordOneByOne(
    std::vector<store::AttemptResult> batch, const std::function<double()>& unit_random,
    const std::exception& batch_error) {
    logger_.Warn("a batch of delivery attempts was refused; recording them one by one",
                 {{"error", batch_error.what()}, {"attempts", batch.size()}});
    std::vector<store::AttemptResult> to_retry;
    for (auto& attempt : batch) {
        std::vector<store::AttemptResult> one;
        one.push_back(std::move(attempt));
        try {
            store_.RecordResults(one, settings_.record, unit_random);
        } catch (const std::exception& error) {
            if (commons::IsTransientDatabaseError(error)) {
                to_retry.push_back(std::move(one.front()));
                continue;
            }
            // Refused on its own: dropped, so it cannot hold up the others. Its lease expires
            // and the delivery is sent again.
            counters_->record_failures.Add({{"step", "record_dropped"}}).Increment();
            logger_.Error(
                "cannot record a delivery attempt; its lease will expire and it will be sent "
                "again",
                {{"delivery_id", one.front().delivery_id}, {"error", error.what()}});
        }
    }
    return to_retry;
}

std::optional<store::AttemptResult> DeliveryEngine::StartAttempt(
    const store::ClaimedDelivery& delivery) {
    auto result = std::make_shared<store::AttemptResult>();
    result->delivery_id = delivery.delivery_id;
    result->endpoint_id = delivery.endpoint_id;
    result->lease_token = delivery.lease_token;
    result->slot = delivery.slot;
    result->step = delivery.step;
    result->started_us = clock_();
    const auto started = std::chrono::steady_clock::now();
    // How the attempt ended, on whichever thread it ended.
    auto finish = [this, started](store::AttemptResult& r, domain::AttemptOutcome outcome) {
        r.finished_us = std::max(clock_(), r.started_us);
        counters_->latency.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        counters_->attempts.Add({{"outcome", std::string(OutcomeName(outcome))}}).Increment();
    };
    std::vector<std::string> keys;
    for (const auto& secret : delivery.secrets) {
        if (auto key = domain::DecodeWebhookSecret(secret)) keys.push_back(std::move(*key));
    }
    if (keys.empty()) {
        result->error = "no_signing_secret: the endpoint has no valid secret";
        finish(*result, domain::AttemptOutcome::kFailed);
        return std::move(*result);
    }
    commons::http::ClientRequest request;
    request.method = commons::http::Method::kPost;
    request.url = delivery.url;
    const std::int64_t timestamp = result->started_us / domain::kMicrosPerSecond;
    request.headers = {
        {"Content-Type", "application/json"},
        {"webhook-id", delivery.event_id},
        {"webhook-timestamp", std::to_string(timestamp)},
        {"webhook-signature", domain::StandardWebhookSignatureHeader(keys, delivery.event_id,
                                                                     timestamp, delivery.payload)}};
    request.body = delivery.payload;
    request.retry = commons::http::RetryPolicy::kNever;
    request.deadline = started + settings_.request_timeout;
    request.oversized_body = commons::http::OversizedBody::kTruncate;
    auto failed = [](store::AttemptResult& r, const commons::http::ClientError& error) {
        r.error = commons::SanitizeText(
            std::string(commons::http::ClientErrorKindName(error.kind())) + ": " + error.what(),
            kAttemptErrorBytesMax);
    };
    try {
        client_->SendAsync(request, [this, result, finish, failed](
                                        std::optional<commons::http::ClientResponse> response,
                                        std::exception_ptr error) {
            auto outcome = domain::AttemptOutcome::kFailed;
            if (response) {
                result->status_code = response->status;
                // Whatever the endpoint sent is kept as text PostgreSQL can store: cut on a
                // character boundary, invalid bytes and NUL replaced.
                result->response_body =
                    commons::SanitizeText(response->body, settings_.response_body_bytes_max);
                if (auto retry_after = response->Header("retry-after")) {
                    result->retry_after_seconds = domain::ParseRetryAfterSeconds(*retry_after);
                }
                outcome = domain::ClassifyStatus(response->status);
            } else {
                try {
                    std::rethrow_exception(error);
                } catch (const commons::http::ClientError& e) {
                    failed(*result, e);
                } catch (const std::exception& e) {
                    result->error = commons::SanitizeText(std::string("internal: ") + e.what(),
                                                          kAttemptErrorBytesMax);
                }
            }
            finish(*result, outcome);
            std::unique_lock lock(mutex_);
            --sending_;
            to_record_.push_back(std::move(*result));
            recorder_wakeup_.notify_one();
            dispatcher_wakeup_.notify_one();
            Launch(lock);
        });
    } catch (const commons::http::ClientError& error) {
        failed(*result, error);
        finish(*result, domain::AttemptOutcome::kFailed);
        return std::move(*result);
    } catch (const std::exception& error) {
        result->error =
            commons::SanitizeText(std::string("internal: ") + error.what(), kAttemptErrorBytesMax);
        finish(*result, domain::AttemptOutcome::kFailed);
        return std::move(*result);
    }
    return std::nullopt;
}

}  // namespace webhook::app
