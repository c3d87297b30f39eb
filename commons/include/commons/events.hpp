#pragma once

// The events backbone (DESIGN.md, "Data ownership and communication"): a service writes an event
// into its own `<schema>.outbox` table in the transaction of the state change (Outbox), a relay
// publishes unpublished rows to a Redis Stream and marks them (OutboxRelay), and consumers read
// the stream through a consumer group (StreamConsumer).
//
// Delivery is at-least-once end to end. The relay may publish a row twice (Redis accepted some
// XADDs but the marking transaction did not commit), and a consumer may see a message again (its
// handler succeeded but the XACK was lost, or it was re-claimed while still being handled).
// Consumers therefore deduplicate on Event::id. PostgreSQL is the source of truth: losing Redis
// delays events, and published rows are kept for `RelaySettings::retention` so a lost stream can
// be rebuilt by setting `published_at = NULL` on the rows of the window to replay.
//
// This header brings in neither libpqxx nor a JSON library: app/ and api/ code may include it.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace pqxx {
class dbtransaction;
}  // namespace pqxx

namespace prometheus {
template <typename T>
class Family;
class Counter;
class Gauge;
}  // namespace prometheus

namespace commons {

class ConnectionPool;
class IdGenerator;
class Logger;
class Metrics;
class RedisClient;
struct RedisReply;

// One event as consumers see it. The envelope on the stream is
// {"id": "evt_…", "type": "payin.payment_intent.succeeded", "created": <unix s>,
//  "source": "payin", "data": {...}}.
struct Event {
    std::string id;            // "evt_…"; the deduplication key
    std::string type;          // "<source>.<noun>.<verb>"
    std::string source;        // the schema (service) that wrote it
    std::int64_t created = 0;  // Unix seconds of the transaction that wrote it
    std::string data_json;     // a JSON object
    std::string stream_id;     // Redis entry id ("1700000000000-0"); empty outside a consumer
    std::int64_t delivery_count = 0;  // 1 on first delivery; grows with each re-claim
};

// The envelope JSON of `event` (stream_id and delivery_count are not part of it).
// Precondition: event.data_json is a JSON object; it is copied verbatim, so numbers keep the
// exact text PostgreSQL gave them.
std::string FormatEnvelope(const Event& event);

// Parses an envelope read from a stream. nullopt when it is not one: not JSON, a missing or
// mistyped field, an id without the "evt_" prefix, or data that is not an object. Never throws.
std::optional<Event> ParseEnvelope(std::string_view json);

// Bounds on what Outbox::Add accepts; an event is a notification, not a document store.
inline constexpr std::size_t kEventTypeBytesMax = 128;
inline constexpr std::size_t kEventDataBytesMax = std::size_t{256} * 1024;

// Writes events into `<schema>.outbox` (the table of every service's 001_outbox.sql).
// Thread-safe. Used by store/ code, which has the transaction.
class Outbox {
  public:
    // Precondition: `schema` is a valid schema name (IsValidSchemaName); it is also the
    // event source and the prefix every type must carry. `ids` must outlive the Outbox.
    // `source` is the type prefix when it differs from the schema (tests run a service's
    // tables in a schema of their own); empty means the schema.
    Outbox(std::string schema, IdGenerator& ids, std::string source = {});

    // Inserts one event in the caller's transaction and returns its new "evt_" id: the event
    // exists exactly when that transaction commits. `type` must be "<schema>.<name>" with
    // lower-case letters, digits, '_' and '.', at most kEventTypeBytesMax bytes; `data_json`
    // must be a JSON object of at most kEventDataBytesMax bytes. A violation is a bug at the
    // call site and throws std::invalid_argument; SQL failures propagate as pqxx errors. The
    // data is stored as jsonb, so consumers get it normalised (key order, whitespace, the last
    // of duplicate keys), and PostgreSQL refuses a "\u0000" escape inside it.
    std::string Add(pqxx::dbtransaction& transaction, std::string_view type,
                    std::string_view data_json);

    struct NewEvent {
        std::string type;
        std::string data_json;
    };
    // Add() for many events in one statement (no round trip per event); returns their ids in
    // order. The same preconditions per event; nothing is inserted when one is violated.
    std::vector<std::string> AddMany(pqxx::dbtransaction& transaction,
                                     const std::vector<NewEvent>& events);

    const std::string& schema() const { return schema_; }

  private:
    void Validate(std::string_view type, std::string_view data_json) const;

    std::string schema_;
    std::string source_;
    IdGenerator& ids_;
    std::string insert_sql_;
    std::string insert_many_sql_;
};

namespace events_internal {

// A background thread whose waits end as soon as Stop() is called.
class Worker {
  public:
    Worker() = default;
    ~Worker() { Stop(); }
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Precondition: not running.
    void Start(std::function<void()> body);
    // Asks the body to finish and joins it. Idempotent.
    void Stop();
    // Waits for `duration`; returns false as soon as Stop() has been called.
    bool WaitFor(std::chrono::milliseconds duration);
    bool stopping();

  private:
    std::mutex mutex_;
    std::condition_variable wakeup_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace events_internal

struct RelaySettings {
    std::string schema;                      // the outbox to drain; also the event source
    std::string stream = "payments.events";  // one stream for every service's events
    // Rows per transaction: bounds the time row locks are held and the memory of one batch.
    std::size_t batch_max = 500;
    // How long an idle relay waits before looking again: the publication latency when quiet.
    std::chrono::milliseconds idle_poll{200};
    // Backoff while Redis or PostgreSQL fails, so an outage is not hammered.
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{5000};
    // XADD MAXLEN ~: bounds Redis memory. Must exceed the largest backlog a consumer group may
    // fall behind by; entries trimmed before being read are only in PostgreSQL.
    std::size_t stream_maxlen_approx = 1'000'000;
    // Published rows are kept this long (for replay after a Redis loss), then purged by the
    // background loop every `purge_interval` (0 disables purging), `purge_batch_max` rows per
    // statement.
    std::chrono::seconds retention{std::chrono::hours(24 * 7)};
    std::chrono::milliseconds purge_interval{60'000};
    std::size_t purge_batch_max = 1000;
    // How often the background loop refreshes events_outbox_lag_rows.
    std::chrono::milliseconds lag_sample_interval{10'000};
};

// Publishes `<schema>.outbox` rows to a Redis Stream in id order and marks them published.
//
// Each stream entry is `id <evt_…> type <type> source <schema> envelope <json>`. Any number of
// replicas may run a relay for the same schema: one publishes at a time (a transaction-scoped
// advisory try-lock per schema; the others find it taken and wait), so the stream carries one
// schema's events in outbox id order. Rows are claimed FOR UPDATE SKIP LOCKED, so a purge never
// blocks the relay. A row whose transaction commits after rows with larger ids were published
// is published after them: the order is that of ids among committed rows.
//
// Metrics: events_published_total{source}, events_relay_failures_total{source,reason},
// events_purged_total{source}, gauge events_outbox_lag_rows{source}.
class OutboxRelay {
  public:
    // `pool`, `redis`, `logger` and `metrics` must outlive the relay.
    // Precondition: valid schema name, non-empty stream, batch_max > 0, positive backoff.
    OutboxRelay(ConnectionPool& pool, RedisClient& redis, RelaySettings settings, Logger& logger,
                Metrics& metrics);
    ~OutboxRelay();  // Stop()s
    OutboxRelay(const OutboxRelay&) = delete;
    OutboxRelay& operator=(const OutboxRelay&) = delete;

    // Publishes at most batch_max unpublished rows in one transaction: XADD each in id order,
    // then mark them all published and commit. Returns how many were published; 0 when none
    // are waiting or another relay is publishing this schema now. When Redis fails part-way
    // the transaction rolls back and every row of the batch stays unpublished (the entries
    // already added are published again later: at-least-once). Throws RedisUnavailableError
    // (also for an error reply such as OOM), DatabaseUnavailableError, or a pqxx error.
    std::size_t PublishOnce();

    // Deletes at most `batch_max` rows published more than `older_than` ago, oldest first.
    // Returns how many. Throws DatabaseUnavailableError or a pqxx error.
    std::size_t PurgePublished(std::chrono::seconds older_than, std::size_t batch_max);

    // Unpublished rows, counted up to `cap` (the count stops there, so it stays cheap).
    std::size_t CountUnpublished(std::size_t cap);

    // Starts the background loop: publishes again at once after a full batch, waits
    // idle_poll otherwise, backs off with jitter while Redis or PostgreSQL fails (logging once
    // when it starts failing and once when it recovers), purges and samples the lag.
    // Precondition: not started.
    void Start();
    // Stops the loop and joins it; returns within one batch. Idempotent.
    void Stop();

  private:
    void Run();

    ConnectionPool& pool_;
    RedisClient& redis_;
    RelaySettings settings_;
    Logger& logger_;
    std::string select_sql_;
    std::string mark_sql_;
    std::string purge_sql_;
    std::string count_sql_;
    prometheus::Counter& published_;
    prometheus::Counter& purged_;
    prometheus::Family<prometheus::Counter>& failures_;
    prometheus::Gauge& lag_rows_;
    events_internal::Worker worker_;  // last: joined before the members it uses go away
};

// Where a consumer group created by StreamConsumer starts reading.
enum class GroupStart {
    // "0": the whole retained stream. The default, because a group is also re-created after
    // Redis lost its data, and starting at "$" then would skip what the relay republished in
    // between. A new group therefore first works through the stream's history.
    kBeginning,
    // "$": only entries added after the group was created. Only for consumers that may miss
    // events (dashboards, caches).
    kNewEntriesOnly,
};

struct ConsumerSettings {
    std::string stream = "payments.events";
    std::string group;     // one per consuming service: "webhook"
    std::string consumer;  // unique per process, e.g. ConsumerName("webhook")
    GroupStart start = GroupStart::kBeginning;
    // Messages taken per read: bounds memory and how long one poll runs.
    std::size_t batch = 100;
    // XREADGROUP BLOCK. Must be below the RedisClient's command timeout (a read that outlives it
    // is cut off as a failure), which is passed as `redis_command_timeout` so it can be checked.
    std::chrono::milliseconds block{1000};
    std::chrono::milliseconds redis_command_timeout{2000};
    // A message pending this long (its consumer crashed, or its handler threw) is re-claimed.
    // Must exceed the longest a handler runs, or a slow handler's message is handled twice.
    std::chrono::milliseconds claim_idle{30'000};
    // A message delivered more often is moved to the dead-letter stream and acked instead of
    // handled. deliveries_max × claim_idle is how long a failing message keeps being retried.
    std::int64_t deliveries_max = 20;
    std::string dead_letter_stream;  // empty: "<stream>.dead"
    std::size_t dead_letter_maxlen_approx = 100'000;
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{5000};
};

// "<prefix>-<hostname>-<pid>-<random>": a consumer name unique per process.
std::string ConsumerName(std::string_view prefix);

// Reads a stream through a consumer group and XACKs each message after its handler returned.
//
// A handler that throws leaves its message pending; after claim_idle any consumer of the group
// (this one included) re-claims and handles it again, so a consumer that crashed mid-message
// loses nothing. A message that reached deliveries_max, or that is not an envelope, is copied to
// the dead-letter stream with `stream_id`, `group`, `deliveries` and `reason` fields, acked and
// logged. Handlers must be idempotent on Event::id.
//
// Metrics: events_consumed_total{group,result="handled|failed|dead_lettered"},
// events_reclaimed_total{group}, events_consumer_failures_total{group,reason}.
class StreamConsumer {
  public:
    using Handler = std::function<void(const Event&)>;

    // `redis`, `logger` and `metrics` must outlive the consumer. Precondition: non-empty stream,
    // group and consumer; batch > 0; block + 100 ms <= redis_command_timeout; deliveries_max > 0.
    StreamConsumer(RedisClient& redis, ConsumerSettings settings, Logger& logger, Metrics& metrics);
    ~StreamConsumer();  // Stop()s
    StreamConsumer(const StreamConsumer&) = delete;
    StreamConsumer& operator=(const StreamConsumer&) = delete;

    // Creates the group if needed (XGROUP CREATE … MKSTREAM), re-claims up to `batch` messages
    // idle for claim_idle (XAUTOCLAIM), then reads up to `batch` new ones (XREADGROUP, blocking
    // up to `block` when nothing was re-claimed), calls `handler` for each in stream order and
    // XACKs those it returned from. Returns how many were handled and acked.
    // Throws RedisUnavailableError when Redis fails or refuses a command. When the handler
    // throws DatabaseUnavailableError or RedisUnavailableError the rest of the batch is left
    // pending and the error is rethrown, so the background loop backs off; any other
    // std::exception from the handler only leaves that message pending.
    std::size_t PollOnce(const Handler& handler);

    // Runs PollOnce(handler) in a background thread, backing off with jitter while it throws.
    // Precondition: not started.
    void Start(Handler handler);

    // The batch form, for handlers that store a whole read in one transaction: the events of
    // one read (re-claimed and new ones separately) go to one call, and are acked together
    // (one XACK) when it returns. DatabaseUnavailableError and RedisUnavailableError are
    // rethrown as in PollOnce, every event staying pending. Any other exception re-offers the
    // events one per call: those handled alone are acked, the one that fails alone stays
    // pending, so one bad event never holds up its neighbours.
    using BatchHandler = std::function<void(const std::vector<Event>&)>;
    std::size_t PollBatchOnce(const BatchHandler& handler);
    // Runs PollBatchOnce(handler) in a background thread. Precondition: not started.
    void StartBatch(BatchHandler handler);
    // Stops the loop and joins it: returns within about one `block` plus one handler call.
    void Stop();

    const ConsumerSettings& settings() const { return settings_; }

  private:
    struct Message {
        std::string stream_id;
        std::vector<std::pair<std::string, std::string>> fields;
        std::int64_t delivery_count = 1;
    };

    void Run(const std::function<std::size_t()>& poll);
    // The event of `message`, or nullopt when it was trimmed (acked) or is dead-lettered.
    std::optional<Event> Prepare(const Message& message);
    std::size_t DeliverBatch(const std::vector<Message>& messages, const BatchHandler& handler);
    void EnsureGroup();
    void CreateGroup();
    RedisReply GroupCommand(const std::vector<std::string>& args);
    std::vector<Message> Reclaim();
    std::vector<Message> ReadNew(bool block);
    // Returns whether the message was acked after a successful handler call.
    bool Deliver(const Message& message, const Handler& handler);
    void DeadLetter(const Message& message, std::string_view reason);
    void Ack(const std::string& stream_id);

    RedisClient& redis_;
    ConsumerSettings settings_;
    Logger& logger_;
    bool group_ready_ = false;
    std::string claim_cursor_ = "0-0";
    std::mutex poll_mutex_;  // one PollOnce at a time: the cursor and group flag are shared
    prometheus::Counter& handled_;
    prometheus::Counter& failed_;
    prometheus::Counter& dead_lettered_;
    prometheus::Counter& reclaimed_;
    prometheus::Family<prometheus::Counter>& failures_;
    events_internal::Worker worker_;  // last: joined before the members it uses go away
};

}  // namespace commons
