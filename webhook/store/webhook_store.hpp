#pragma once

// The webhook service's PostgreSQL state (migrations/002_webhook.sql). Every method runs in
// transactions of its own on the given pool and is safe to call from many threads and from
// several replicas at once. No libpqxx here: only webhook_store.cpp sees it.

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "webhook/domain/policy.hpp"

namespace commons {
class ConnectionPool;
class IdGenerator;
class Outbox;
}  // namespace commons

namespace webhook::store {

using domain::Micros;

struct EndpointRecord {
    std::string id;
    std::string url;
    std::string description;
    std::vector<std::string> event_types;
    bool enabled = true;
    std::string disabled_reason;  // "", "manual", "gone", "failing"
    std::optional<std::int32_t> rate_limit_per_second;
    std::optional<std::int32_t> max_in_flight;
    bool ordered = false;
    domain::EndpointHealth health;
    Micros created_us = 0;
    Micros updated_us = 0;
};

struct NewEndpoint {
    std::string url;
    std::string description;
    std::vector<std::string> event_types;
    bool enabled = true;
    std::optional<std::int32_t> rate_limit_per_second;
    std::optional<std::int32_t> max_in_flight;
    bool ordered = false;
};

// What PATCH changes; an absent field is kept. For the two limits, an engaged empty optional
// removes the limit.
struct EndpointPatch {
    std::optional<std::string> url;
    std::optional<std::string> description;
    std::optional<std::vector<std::string>> event_types;
    std::optional<bool> enabled;
    std::optional<std::optional<std::int32_t>> rate_limit_per_second;
    std::optional<std::optional<std::int32_t>> max_in_flight;
    std::optional<bool> ordered;
};

struct EndpointSecret {
    std::string secret;  // whsec_...
    Micros created_us = 0;
    std::optional<Micros> expires_us;  // set on the previous secret by a rotation
};

template <typename T>
struct Page {
    std::vector<T> items;
    bool has_more = false;
};

// An event to deliver.
struct IncomingEvent {
    std::string id;  // evt_...
    std::string type;
    std::string source;
    std::int64_t created = 0;  // Unix seconds
    std::string payload;       // the body every delivery sends
};

struct DeliveryRecord {
    std::string id;
    std::string event_id;
    std::string event_type;
    std::string endpoint_id;
    std::string status;  // pending, succeeded, failed
    std::int32_t attempts = 0;
    std::optional<Micros> next_attempt_us;  // while pending
    std::optional<std::int32_t> last_status_code;
    std::string last_error;
    Micros created_us = 0;
    std::optional<Micros> completed_us;
};

struct AttemptRecord {
    std::int64_t id = 0;
    std::string delivery_id;
    std::string endpoint_id;
    Micros attempted_us = 0;
    std::optional<std::int32_t> status_code;
    Micros latency_us = 0;
    std::string error;
    std::string response_body;
};

// A delivery this replica now holds the lease of, with what it needs to send it.
struct ClaimedDelivery {
    std::string delivery_id;
    std::string event_id;
    std::string endpoint_id;
    std::string url;
    std::string payload;
    std::vector<std::string> secrets;  // every unexpired secret, newest first
    std::int32_t step = 0;
    std::int64_t lease_token = 0;
    Micros lease_until_us = 0;  // the attempt must end before this, or not start
    std::int32_t slot = 0;      // the endpoint's in-flight slot held under the same lease
};

struct ClaimSettings {
    std::size_t limit = 100;
    domain::Micros lease_us = 60 * domain::kMicrosPerSecond;
    std::int32_t default_max_in_flight = 32;
    domain::HealthPolicy health;
};

struct ClaimResult {
    std::vector<ClaimedDelivery> deliveries;
    // Endpoints whose rate limit left due deliveries behind: the dispatcher leaves them out of
    // its next scans until tokens have refilled.
    std::vector<std::string> saturated_endpoints;
};

struct AddedEvents {
    std::size_t deliveries = 0;           // created
    std::vector<ClaimedDelivery> leased;  // of those, claimed by the caller
    bool left_unleased = false;           // some wait for a claim
};

// How one attempt ended.
struct AttemptResult {
    std::string delivery_id;
    std::string endpoint_id;
    std::int64_t lease_token = 0;
    std::int32_t slot = 0;  // the in-flight slot to free (ClaimedDelivery::slot)
    std::int32_t step = 0;  // the schedule index of the attempt that ran
    Micros started_us = 0;
    Micros finished_us = 0;
    std::optional<std::int32_t> status_code;  // nullopt: no response
    std::string error;                        // "" with a response
    std::string response_body;                // at most 4 KB
    std::optional<std::int64_t> retry_after_seconds;
};

struct RecordSettings {
    domain::RetrySchedule schedule = domain::RetrySchedule::Default();
    std::chrono::milliseconds retry_after_max{std::chrono::hours(1)};
    domain::HealthPolicy health;
};

struct PurgeSettings {
    Micros now = 0;
    Micros cutoff = 0;  // what is older goes
    // Events go only once this much older than the cutoff, so every delivery made in the
    // transaction that stored the event (ids from the same clock) is older than the cutoff too.
    Micros event_margin = 3600 * domain::kMicrosPerSecond;
    std::size_t batch = 1000;
    std::size_t batches_max = 100;
};

struct PurgeCounts {
    std::size_t expired = 0;     // of the deliveries, those still pending
    std::size_t deliveries = 0;  // deleted, with their attempts
    std::size_t attempts = 0;
    std::size_t events = 0;
    std::size_t inbound_events = 0;
    bool more = false;  // a step stopped at batches_max with rows left
};

struct InboundEvent {
    std::string id;
    std::string type;
    std::string payload;
    std::int32_t attempts = 0;
};

class PgWebhookStore {
  public:
    // `pool`, `outbox` and `ids` must outlive the store. `schema` is the service's schema.
    PgWebhookStore(commons::ConnectionPool& pool, std::string schema, commons::Outbox& outbox,
                   commons::IdGenerator& ids);

    // ---- Endpoints ----
    EndpointRecord CreateEndpoint(const NewEndpoint& endpoint, const std::string& secret,
                                  Micros now);
    std::optional<EndpointRecord> FindEndpoint(const std::string& id);
    Page<EndpointRecord> ListEndpoints(std::size_t limit, const std::string& starting_after);
    std::optional<EndpointRecord> UpdateEndpoint(const std::string& id, const EndpointPatch& patch,
                                                 Micros now);
    // Deletes the endpoint; its pending deliveries fail with "endpoint_deleted". False when
    // there is no such endpoint.
    bool DeleteEndpoint(const std::string& id, Micros now);
    // Makes `secret` the current one; the previous current one keeps signing until
    // now + overlap. nullopt when there is no such endpoint.
    std::optional<std::vector<EndpointSecret>> RotateSecret(const std::string& id,
                                                            const std::string& secret, Micros now,
                                                            Micros overlap_us);
    // Unexpired secrets, newest first; nullopt when there is no such endpoint.
    std::optional<std::vector<EndpointSecret>> Secrets(const std::string& id, Micros now);

    // ---- Events ----
    // Stores the events not stored yet and one pending delivery for each enabled endpoint whose
    // filters match each new one, all in one transaction.
    //
    // With `lease`, up to lease->limit of the new deliveries are created already claimed by the
    // caller, under the same limits a Claim() applies (in-flight bound, circuit breaker, rate
    // tokens; never an ordered endpoint's), and returned to be sent at once: a fresh event's
    // first attempts skip the claim's scan and lease update.
    AddedEvents AddEvents(const std::vector<IncomingEvent>& events, Micros now,
                          const ClaimSettings* lease = nullptr);

    // ---- The delivery engine ----
    ClaimResult Claim(Micros now, const std::vector<std::string>& excluded_endpoints,
                      const ClaimSettings& settings);
    // Records finished attempts (attempt log, delivery state, endpoint health, disabling with
    // a webhook.endpoint.disabled event) in one transaction. A delivery whose lease was taken
    // over meanwhile keeps its state; its attempt is still logged. `unit_random` draws the
    // retry jitter. Returns how many deliveries changed state.
    std::size_t RecordResults(const std::vector<AttemptResult>& results,
                              const RecordSettings& settings,
                              const std::function<double()>& unit_random);

    // Gives back leases held by `deliveries` that were never attempted, so any replica may
    // claim them at once. A lease taken over meanwhile is left alone. Returns how many.
    std::size_t ReleaseLeases(const std::vector<ClaimedDelivery>& deliveries);

    // The delivery and, when `attempts` is given, its latest `attempts_limit` attempts, newest
    // first, read from one snapshot.
    std::optional<DeliveryRecord> FindDelivery(const std::string& id,
                                               std::vector<AttemptRecord>* attempts = nullptr,
                                               std::size_t attempts_limit = 0);
    // Attempts of an endpoint, newest first; `starting_after` is an attempt id (0: none).
    Page<AttemptRecord> EndpointAttempts(const std::string& endpoint_id, std::size_t limit,
                                         std::int64_t starting_after);
    // Sends the delivery again from the start of the schedule, whatever its state.
    // Deliveries created before `created_since` are not retried (nullopt), so the purge never
    // races a retry (docs/webhook.md, "Retention").
    std::optional<DeliveryRecord> RetryDelivery(
        const std::string& id, Micros now,
        Micros created_since = std::numeric_limits<Micros>::min());
    // Sends again every failed delivery of the endpoint created at or after `since`. Returns
    // how many; nullopt when there is no such endpoint.
    std::optional<std::size_t> Recover(const std::string& endpoint_id, Micros since, Micros now);
    // Pending deliveries, counted up to `cap`.
    std::size_t CountPending(std::size_t cap);

    // ---- Retention ----
    // Removes what is older than `settings.cutoff` (docs/webhook.md, "Retention"), in
    // transactions of at most `batch` rows, at most `batches_max` of them per step:
    //   1. deliveries created before the cutoff are deleted with their attempts, unless an
    //      attempt holds their lease (a pending one among them counts as expired);
    //   2. then, if step 1 finished, events received before cutoff - event_margin, unless a
    //      pending delivery still needs the payload;
    //   3. inbound Stripe events processed before the cutoff.
    // Deliveries and events are matched by their time-ordered ids, so no index is written on
    // the delivery path for this. Rows another transaction holds are skipped, never waited for.
    // `stop` is asked between batches; true ends the pass early.
    PurgeCounts Purge(
        const PurgeSettings& settings, const std::function<bool()>& stop = [] { return false; });

    // ---- Inbound (Stripe) ----
    // False when an event with this id was stored before.
    bool InsertInbound(const std::string& id, const std::string& type, const std::string& payload,
                       Micros now);
    struct InboundOutcome {
        bool processed = false;
        std::string handler;  // "" when none took it
        std::string error;    // when !processed
    };
    // Takes one due, unprocessed inbound event (skipping those another replica holds), calls
    // `handle` on it while holding its row, and records the outcome: processed, or retried
    // after a backoff. False when none was due.
    bool ProcessOneInbound(Micros now,
                           const std::function<InboundOutcome(const InboundEvent&)>& handle);
    std::optional<InboundEvent> FindInbound(const std::string& id, bool* processed,
                                            std::string* handler);

  private:
    commons::ConnectionPool& pool_;
    std::string schema_;
    commons::Outbox& outbox_;
    commons::IdGenerator& ids_;
};

}  // namespace webhook::store
