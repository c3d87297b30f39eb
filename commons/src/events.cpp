#include "commons/events.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "commons/assert.hpp"
#include "commons/db.hpp"
#include "commons/db_transaction.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "commons/migrations.hpp"
#include "commons/pg_array.hpp"
#include "commons/redis.hpp"

namespace commons {
namespace {

using namespace std::chrono_literals;

// The lag gauge counts at most this many rows, so sampling it stays cheap during a backlog.
constexpr std::size_t kLagRowsCountMax = 100'000;
// How many of this consumer's pending entries one XPENDING range query returns per re-claimed
// message; its other pending entries may sit in the same range.
constexpr std::size_t kPendingRangeFactor = 4;
// Headroom between XREADGROUP's BLOCK and the client's command timeout (round trip, scheduling).
constexpr std::chrono::milliseconds kBlockTimeoutMarginMin{100};

bool StartsWith(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

std::string Quote(std::string_view text) { return nlohmann::json(std::string(text)).dump(); }

// Exponential backoff with jitter: a failing loop waits initial, 2×initial, … up to max, each
// delay drawn in [delay/2, delay] so replicas that failed together do not retry together.
class Backoff {
  public:
    Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
        : initial_(initial), max_(max), random_(std::random_device{}()) {}

    std::chrono::milliseconds Next() {
        ++failures_;
        current_ = current_.count() == 0 ? initial_ : std::min(max_, current_ * 2);
        std::uniform_int_distribution<std::int64_t> jitter(current_.count() / 2, current_.count());
        return std::chrono::milliseconds(jitter(random_));
    }
    void Reset() {
        failures_ = 0;
        current_ = 0ms;
    }
    int failures() const { return failures_; }

  private:
    std::chrono::milliseconds initial_;
    std::chrono::milliseconds max_;
    std::chrono::milliseconds current_{0};
    int failures_ = 0;
    std::minstd_rand random_;
};

// The reason label of a background-loop failure.
std::string_view FailureReason(const std::exception& error) {
    if (dynamic_cast<const RedisUnavailableError*>(&error) != nullptr) return "redis_unavailable";
    if (dynamic_cast<const DatabaseUnavailableError*>(&error) != nullptr) {
        return "database_unavailable";
    }
    return "error";
}

constexpr std::string_view kFailureReasons[] = {"redis_unavailable", "database_unavailable",
                                                "error"};

std::string FieldValue(const std::vector<std::pair<std::string, std::string>>& fields,
                       std::string_view name) {
    for (const auto& [field, value] : fields) {
        if (field == name) return value;
    }
    return "";
}

}  // namespace

std::string FormatEnvelope(const Event& event) {
    PAY_DEBUG_ASSERT(nlohmann::json::accept(event.data_json));
    std::string out;
    out.reserve(event.data_json.size() + event.type.size() + 96);
    out += "{\"id\":" + Quote(event.id);
    out += ",\"type\":" + Quote(event.type);
    out += ",\"created\":" + std::to_string(event.created);
    out += ",\"source\":" + Quote(event.source);
    out += ",\"data\":" + event.data_json;
    out += "}";
    return out;
}

std::optional<Event> ParseEnvelope(std::string_view json) {
    // ordered_json keeps the publisher's key order in data_json.
    auto envelope = nlohmann::ordered_json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (envelope.is_discarded() || !envelope.is_object()) return std::nullopt;
    auto id = envelope.find("id");
    auto type = envelope.find("type");
    auto created = envelope.find("created");
    auto source = envelope.find("source");
    auto data = envelope.find("data");
    const auto end = envelope.end();
    if (id == end || !id->is_string() || type == end || !type->is_string() || created == end ||
        !created->is_number_integer() || source == end || !source->is_string() || data == end ||
        !data->is_object()) {
        return std::nullopt;
    }
    if (created->is_number_unsigned() &&
        created->get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return std::nullopt;
    }
    Event event;
    event.id = id->get<std::string>();
    event.type = type->get<std::string>();
    event.created = created->get<std::int64_t>();
    event.source = source->get<std::string>();
    event.data_json = data->dump();
    if (!StartsWith(event.id, "evt_") || event.type.empty() || event.source.empty()) {
        return std::nullopt;
    }
    return event;
}

Outbox::Outbox(std::string schema, IdGenerator& ids, std::string source)
    : schema_(std::move(schema)), source_(source.empty() ? schema_ : std::move(source)), ids_(ids) {
    PAY_ASSERT(IsValidSchemaName(schema_));
    // The schema is a validated identifier, so it may be spliced into the statement.
    insert_sql_ =
        "INSERT INTO " + schema_ + ".outbox (event_id, type, data) VALUES ($1, $2, $3::jsonb)";
    // WITH ORDINALITY keeps the outbox ids (the publication order) in the caller's order.
    insert_many_sql_ =
        "INSERT INTO " + schema_ +
        ".outbox (event_id, type, data) SELECT e, t, d::jsonb FROM "
        "unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(e, t, d, n) "
        "ORDER BY n";
}

void Outbox::Validate(std::string_view type, std::string_view data_json) const {
    const std::string prefix = source_ + ".";
    if (type.size() > kEventTypeBytesMax) {
        throw std::invalid_argument("event type longer than " + std::to_string(kEventTypeBytesMax) +
                                    " bytes");
    }
    if (!StartsWith(type, prefix) || type.size() == prefix.size() || type.back() == '.' ||
        type.find("..") != std::string_view::npos) {
        throw std::invalid_argument("event type must be \"" + prefix +
                                    "<name>\": " + std::string(type));
    }
    for (char c : type) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) {
            throw std::invalid_argument("event type may hold only [a-z0-9_.]: " +
                                        std::string(type));
        }
    }
    if (data_json.size() > kEventDataBytesMax) {
        throw std::invalid_argument("event data larger than " + std::to_string(kEventDataBytesMax) +
                                    " bytes");
    }
    auto data = nlohmann::json::parse(data_json, nullptr, /*allow_exceptions=*/false);
    if (data.is_discarded() || !data.is_object()) {
        throw std::invalid_argument("event data must be a JSON object");
    }
}

std::string Outbox::Add(pqxx::dbtransaction& transaction, std::string_view type,
                        std::string_view data_json) {
    Validate(type, data_json);
    std::string id = ids_.Next("evt");
    transaction.exec_params0(insert_sql_, id, std::string(type), std::string(data_json));
    return id;
}

std::vector<std::string> Outbox::AddMany(pqxx::dbtransaction& transaction,
                                         const std::vector<NewEvent>& events) {
    std::vector<std::string> ids;
    if (events.empty()) return ids;
    PgArrayBuilder id_array, type_array, data_array;
    for (const auto& event : events) {
        Validate(event.type, event.data_json);
        ids.push_back(ids_.Next("evt"));
        id_array.Add(ids.back());
        type_array.Add(event.type);
        data_array.Add(event.data_json);
    }
    transaction.exec_params0(insert_many_sql_, id_array.Finish(), type_array.Finish(),
                             data_array.Finish());
    return ids;
}

namespace events_internal {

void Worker::Start(std::function<void()> body) {
    PAY_ASSERT(!thread_.joinable());
    {
        std::lock_guard lock(mutex_);
        stopping_ = false;
    }
    thread_ = std::thread(std::move(body));
}

void Worker::Stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wakeup_.notify_all();
    if (thread_.joinable()) {
        PAY_ASSERT(thread_.get_id() != std::this_thread::get_id());
        thread_.join();
    }
}

bool Worker::WaitFor(std::chrono::milliseconds duration) {
    std::unique_lock lock(mutex_);
    return !wakeup_.wait_for(lock, duration, [this] { return stopping_; });
}

bool Worker::stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
}

}  // namespace events_internal

OutboxRelay::OutboxRelay(ConnectionPool& pool, RedisClient& redis, RelaySettings settings,
                         Logger& logger, Metrics& metrics)
    : pool_(pool),
      redis_(redis),
      settings_(std::move(settings)),
      logger_(logger),
      published_(prometheus::BuildCounter()
                     .Name("events_published_total")
                     .Help("Outbox rows published to the events stream")
                     .Register(metrics.registry())
                     .Add({{"source", settings_.schema}})),
      purged_(prometheus::BuildCounter()
                  .Name("events_purged_total")
                  .Help("Published outbox rows deleted after their retention")
                  .Register(metrics.registry())
                  .Add({{"source", settings_.schema}})),
      failures_(prometheus::BuildCounter()
                    .Name("events_relay_failures_total")
                    .Help("Failed attempts of the outbox relay, by reason")
                    .Register(metrics.registry())),
      lag_rows_(prometheus::BuildGauge()
                    .Name("events_outbox_lag_rows")
                    .Help("Unpublished outbox rows (counted up to 100000)")
                    .Register(metrics.registry())
                    .Add({{"source", settings_.schema}})) {
    PAY_ASSERT(IsValidSchemaName(settings_.schema));
    PAY_ASSERT(!settings_.stream.empty());
    PAY_ASSERT(settings_.batch_max > 0);
    PAY_ASSERT(settings_.purge_batch_max > 0);
    PAY_ASSERT(settings_.stream_maxlen_approx > 0);
    PAY_ASSERT(settings_.backoff_initial.count() > 0);
    PAY_ASSERT(settings_.backoff_max >= settings_.backoff_initial);
    for (auto reason : kFailureReasons) {
        failures_.Add({{"source", settings_.schema}, {"reason", std::string(reason)}});
    }
    const std::string table = settings_.schema + ".outbox";
    select_sql_ =
        "SELECT id, event_id, type, data::text, "
        "floor(extract(epoch FROM created_at))::bigint FROM " +
        table + " WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";
    mark_sql_ = "UPDATE " + table + " SET published_at = now() WHERE id = ANY($1::bigint[])";
    // Rows are published in id order, so the rows old enough to purge are among the oldest ids;
    // looking only at the oldest `$2` keeps each purge an index range scan of bounded size.
    // Unpublished rows are never locked here, so the relay (SKIP LOCKED) never skips past one.
    purge_sql_ = "DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table +
                 " WHERE id <= (SELECT max(id) FROM (SELECT id FROM " + table +
                 " ORDER BY id LIMIT $2) oldest)"
                 " AND published_at < now() - $1::bigint * interval '1 second'"
                 " ORDER BY id FOR UPDATE SKIP LOCKED)";
    count_sql_ = "SELECT count(*) FROM (SELECT 1 FROM " + table +
                 " WHERE published_at IS NULL LIMIT $1) unpublished";
}

OutboxRelay::~OutboxRelay() { Stop(); }

std::size_t OutboxRelay::PublishOnce() {
    const std::string maxlen = std::to_string(settings_.stream_maxlen_approx);
    std::string refused;
    std::size_t published = WithTransaction(pool_, [&](pqxx::dbtransaction& tx) -> std::size_t {
        refused.clear();
        // One relay per schema publishes at a time, so batches of different replicas cannot
        // interleave on the stream; the lock ends with the transaction (or its connection).
        if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock(hashtext('payments.events.relay'),"
                             " hashtext($1))",
                             settings_.schema)[0]
                 .as<bool>()) {
            return 0;
        }
        const pqxx::result rows = tx.exec_params(select_sql_, settings_.batch_max);
        if (rows.empty()) return 0;
        PAY_ASSERT(rows.size() <= settings_.batch_max);
        std::string row_ids = "{";
        std::int64_t previous_id = 0;
        for (const auto& row : rows) {
            const auto row_id = row[0].as<std::int64_t>();
            PAY_ASSERT(row_id > previous_id);
            previous_id = row_id;
            Event event;
            event.id = row[1].as<std::string>();
            event.type = row[2].as<std::string>();
            event.data_json = row[3].as<std::string>();
            event.created = row[4].as<std::int64_t>();
            event.source = settings_.schema;
            // XADD is not repeatable, so a failed send is never retried here: the batch rolls
            // back and is published again whole (at-least-once).
            RedisReply reply = redis_.Command(
                {"XADD", settings_.stream, "MAXLEN", "~", maxlen, "*", "id", event.id, "type",
                 event.type, "source", event.source, "envelope", FormatEnvelope(event)},
                RedisRetry::kNever);
            if (reply.type != RedisReply::Type::kString) {
                // Redis answered and refused this entry: the rows already on the stream are
                // marked published (committed below), so they are not sent again with it.
                refused = "XADD to " + settings_.stream + " refused: " + reply.text;
                if (row_ids.size() == 1) throw RedisUnavailableError(refused);
                break;
            }
            if (row_ids.size() > 1) row_ids += ',';
            row_ids += std::to_string(row_id);
        }
        row_ids += '}';
        const auto marked = tx.exec_params0(mark_sql_, row_ids).affected_rows();
        const std::size_t sent =
            static_cast<std::size_t>(std::count(row_ids.begin(), row_ids.end(), ',') + 1);
        PAY_ASSERT(marked == sent);
        return sent;
    });
    published_.Increment(static_cast<double>(published));
    if (!refused.empty()) throw RedisUnavailableError(refused);
    return published;
}

std::size_t OutboxRelay::PurgePublished(std::chrono::seconds older_than, std::size_t batch_max) {
    PAY_ASSERT(batch_max > 0);
    const std::size_t purged = WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        return static_cast<std::size_t>(
            tx.exec_params0(purge_sql_, static_cast<std::int64_t>(older_than.count()), batch_max)
                .affected_rows());
    });
    purged_.Increment(static_cast<double>(purged));
    return purged;
}

std::size_t OutboxRelay::CountUnpublished(std::size_t cap) {
    return WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        return tx.exec_params1(count_sql_, cap)[0].as<std::size_t>();
    });
}

void OutboxRelay::Start() {
    worker_.Start([this] { Run(); });
}

void OutboxRelay::Stop() { worker_.Stop(); }

void OutboxRelay::Run() {
    Backoff backoff(settings_.backoff_initial, settings_.backoff_max);
    using Clock = std::chrono::steady_clock;
    auto next_lag_sample = Clock::now();
    auto next_purge = Clock::now() + settings_.purge_interval;
    while (!worker_.stopping()) {
        std::chrono::milliseconds wait = settings_.idle_poll;
        try {
            // Housekeeping only needs PostgreSQL, so the lag is sampled while Redis is down. Its
            // next time is set first, so a failing purge cannot crowd out publishing.
            const auto now = Clock::now();
            if (now >= next_lag_sample) {
                next_lag_sample = now + settings_.lag_sample_interval;
                lag_rows_.Set(static_cast<double>(CountUnpublished(kLagRowsCountMax)));
            }
            if (settings_.purge_interval.count() > 0 && now >= next_purge) {
                next_purge = now + settings_.purge_interval;
                PurgePublished(settings_.retention, settings_.purge_batch_max);
            }
            if (PublishOnce() == settings_.batch_max) wait = 0ms;
            if (backoff.failures() > 0) {
                logger_.Info("events relay recovered", {{"source", settings_.schema},
                                                        {"failed_attempts", backoff.failures()}});
                backoff.Reset();
            }
        } catch (const std::exception& error) {
            const std::string_view reason = FailureReason(error);
            failures_.Add({{"source", settings_.schema}, {"reason", std::string(reason)}})
                .Increment();
            if (backoff.failures() == 0) {
                logger_.Warn(
                    "events relay failing; retrying with backoff",
                    {{"source", settings_.schema}, {"reason", reason}, {"error", error.what()}});
            }
            wait = backoff.Next();
        }
        if (wait.count() > 0 && !worker_.WaitFor(wait)) break;
    }
}

std::string ConsumerName(std::string_view prefix) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return std::string(prefix) + "-" + host + "-" + std::to_string(::getpid()) + "-" + RandomHex(4);
}

namespace {

// Registered by every consumer of a process; the registry returns the existing family.
prometheus::Family<prometheus::Counter>& ConsumedFamily(Metrics& metrics) {
    return prometheus::BuildCounter()
        .Name("events_consumed_total")
        .Help("Stream messages taken by a consumer group, by outcome")
        .Register(metrics.registry());
}

ConsumerSettings Normalize(ConsumerSettings settings) {
    if (settings.dead_letter_stream.empty()) {
        settings.dead_letter_stream = settings.stream + ".dead";
    }
    return settings;
}

}  // namespace

StreamConsumer::StreamConsumer(RedisClient& redis, ConsumerSettings settings, Logger& logger,
                               Metrics& metrics)
    : redis_(redis),
      settings_(Normalize(std::move(settings))),
      logger_(logger),
      handled_(ConsumedFamily(metrics).Add({{"group", settings_.group}, {"result", "handled"}})),
      failed_(ConsumedFamily(metrics).Add({{"group", settings_.group}, {"result", "failed"}})),
      dead_lettered_(
          ConsumedFamily(metrics).Add({{"group", settings_.group}, {"result", "dead_lettered"}})),
      reclaimed_(prometheus::BuildCounter()
                     .Name("events_reclaimed_total")
                     .Help("Pending messages re-claimed from an idle consumer")
                     .Register(metrics.registry())
                     .Add({{"group", settings_.group}})),
      failures_(prometheus::BuildCounter()
                    .Name("events_consumer_failures_total")
                    .Help("Failed polls of a stream consumer, by reason")
                    .Register(metrics.registry())) {
    PAY_ASSERT(!settings_.stream.empty());
    PAY_ASSERT(!settings_.group.empty());
    PAY_ASSERT(!settings_.consumer.empty());
    PAY_ASSERT(settings_.batch > 0);
    PAY_ASSERT(settings_.block.count() > 0);
    PAY_ASSERT(settings_.block + kBlockTimeoutMarginMin <= settings_.redis_command_timeout);
    PAY_ASSERT(settings_.claim_idle.count() > 0);
    PAY_ASSERT(settings_.deliveries_max > 0);
    PAY_ASSERT(settings_.dead_letter_maxlen_approx > 0);
    PAY_ASSERT(settings_.backoff_initial.count() > 0);
    PAY_ASSERT(settings_.backoff_max >= settings_.backoff_initial);
    for (auto reason : kFailureReasons) {
        failures_.Add({{"group", settings_.group}, {"reason", std::string(reason)}});
    }
}

StreamConsumer::~StreamConsumer() { Stop(); }

void StreamConsumer::CreateGroup() {
    const char* start = settings_.start == GroupStart::kBeginning ? "0" : "$";
    RedisReply reply =
        redis_.Command({"XGROUP", "CREATE", settings_.stream, settings_.group, start, "MKSTREAM"},
                       RedisRetry::kRetryOnce);
    if (reply.is_error() && !StartsWith(reply.text, "BUSYGROUP")) {
        throw RedisUnavailableError("XGROUP CREATE " + settings_.stream + " " + settings_.group +
                                    " refused: " + reply.text);
    }
    group_ready_ = true;
}

void StreamConsumer::EnsureGroup() {
    if (!group_ready_) CreateGroup();
}

RedisReply StreamConsumer::GroupCommand(const std::vector<std::string>& args) {
    EnsureGroup();
    RedisReply reply = redis_.Command(args, RedisRetry::kNever);
    if (reply.is_error() && StartsWith(reply.text, "NOGROUP")) {
        // The group vanished: Redis lost its data or someone deleted the stream. Re-create it
        // (from the beginning by default, so what the relay republished since is not skipped).
        logger_.Warn("consumer group missing; re-creating it",
                     {{"stream", settings_.stream}, {"group", settings_.group}});
        group_ready_ = false;
        CreateGroup();
        reply = redis_.Command(args, RedisRetry::kNever);
    }
    if (reply.is_error()) throw RedisUnavailableError(args[0] + " refused: " + reply.text);
    return reply;
}

namespace {

// Entries of an XREADGROUP / XAUTOCLAIM reply: [[id, [field, value, ...]], ...].
template <typename Message>
std::vector<Message> ParseEntries(const RedisReply& entries) {
    std::vector<Message> out;
    if (entries.type != RedisReply::Type::kArray) return out;
    out.reserve(entries.elements.size());
    for (const auto& entry : entries.elements) {
        if (entry.type != RedisReply::Type::kArray || entry.elements.empty()) continue;
        Message message;
        message.stream_id = entry.elements[0].text;
        if (entry.elements.size() > 1) {
            const auto& fields = entry.elements[1].elements;
            for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
                message.fields.emplace_back(fields[i].text, fields[i + 1].text);
            }
        }
        out.push_back(std::move(message));
    }
    return out;
}

}  // namespace

std::vector<StreamConsumer::Message> StreamConsumer::Reclaim() {
    RedisReply reply =
        GroupCommand({"XAUTOCLAIM", settings_.stream, settings_.group, settings_.consumer,
                      std::to_string(settings_.claim_idle.count()), claim_cursor_, "COUNT",
                      std::to_string(settings_.batch)});
    if (reply.type != RedisReply::Type::kArray || reply.elements.size() < 2) {
        throw RedisUnavailableError("unexpected XAUTOCLAIM reply");
    }
    // The cursor walks the pending list across polls; "0-0" means it wrapped around.
    claim_cursor_ = reply.elements[0].text.empty() ? "0-0" : reply.elements[0].text;
    auto messages = ParseEntries<Message>(reply.elements[1]);
    if (messages.empty()) return messages;
    reclaimed_.Increment(static_cast<double>(messages.size()));

    // XAUTOCLAIM does not say how often an entry was delivered; XPENDING does (the claim has
    // already counted as a delivery). One range query over this consumer's pending entries
    // usually answers for all of them; the range may also hold its other pending entries, so
    // any it left out is asked for alone.
    auto pending_range = [&](const std::string& first, const std::string& last, std::size_t count) {
        RedisReply pending = GroupCommand({"XPENDING", settings_.stream, settings_.group, first,
                                           last, std::to_string(count), settings_.consumer});
        std::map<std::string, std::int64_t, std::less<>> deliveries;
        for (const auto& entry : pending.elements) {
            if (entry.elements.size() >= 4) {
                deliveries[entry.elements[0].text] = entry.elements[3].integer;
            }
        }
        return deliveries;
    };
    auto deliveries = pending_range(messages.front().stream_id, messages.back().stream_id,
                                    messages.size() * kPendingRangeFactor);
    for (auto& message : messages) {
        auto it = deliveries.find(message.stream_id);
        if (it == deliveries.end()) {
            auto single = pending_range(message.stream_id, message.stream_id, 1);
            it = single.find(message.stream_id);
            // Absent only when no longer pending (acked meanwhile): the handler still sees it
            // once more, as at-least-once allows.
            message.delivery_count = it != single.end() ? it->second : 2;
        } else {
            message.delivery_count = it->second;
        }
    }
    return messages;
}

std::vector<StreamConsumer::Message> StreamConsumer::ReadNew(bool block) {
    std::vector<std::string> args{"XREADGROUP",       "GROUP", settings_.group,
                                  settings_.consumer, "COUNT", std::to_string(settings_.batch)};
    if (block) {
        args.emplace_back("BLOCK");
        args.push_back(std::to_string(settings_.block.count()));
    }
    args.insert(args.end(), {"STREAMS", settings_.stream, ">"});
    RedisReply reply = GroupCommand(args);
    if (reply.type != RedisReply::Type::kArray || reply.elements.empty()) return {};  // timeout
    const RedisReply& stream = reply.elements[0];
    if (stream.elements.size() < 2) return {};
    return ParseEntries<Message>(stream.elements[1]);
}

void StreamConsumer::Ack(const std::string& stream_id) {
    RedisReply reply = redis_.Command({"XACK", settings_.stream, settings_.group, stream_id},
                                      RedisRetry::kRetryOnce);
    if (reply.is_error()) throw RedisUnavailableError("XACK refused: " + reply.text);
}

void StreamConsumer::DeadLetter(const Message& message, std::string_view reason) {
    std::vector<std::string> args{"XADD",
                                  settings_.dead_letter_stream,
                                  "MAXLEN",
                                  "~",
                                  std::to_string(settings_.dead_letter_maxlen_approx),
                                  "*"};
    for (const auto& [field, value] : message.fields) {
        args.push_back(field);
        args.push_back(value);
    }
    args.insert(args.end(),
                {"stream_id", message.stream_id, "group", settings_.group, "deliveries",
                 std::to_string(message.delivery_count), "reason", std::string(reason)});
    RedisReply reply = redis_.Command(args, RedisRetry::kNever);
    if (reply.type != RedisReply::Type::kString) {
        throw RedisUnavailableError("XADD to " + settings_.dead_letter_stream +
                                    " refused: " + reply.text);
    }
    // Acked only once the copy exists: a crash in between leaves a duplicate, never a loss.
    Ack(message.stream_id);
    dead_lettered_.Increment();
    logger_.Error("event moved to the dead-letter stream",
                  {{"event_id", FieldValue(message.fields, "id")},
                   {"type", FieldValue(message.fields, "type")},
                   {"stream_id", message.stream_id},
                   {"group", settings_.group},
                   {"deliveries", message.delivery_count},
                   {"reason", reason},
                   {"dead_letter_stream", settings_.dead_letter_stream}});
}

namespace {

// Runs a consumer's handler. An unavailable database or Redis is logged and rethrown, so the
// background loop backs off; any other exception is logged and reported as false (the messages
// stay pending).
template <typename Call, typename LogFailure>
bool RunHandler(const Call& call, const LogFailure& log_failure) {
    try {
        call();
    } catch (const DatabaseUnavailableError& error) {
        log_failure(error);
        throw;
    } catch (const RedisUnavailableError& error) {
        log_failure(error);
        throw;
    } catch (const std::exception& error) {
        log_failure(error);
        return false;
    }
    return true;
}

}  // namespace

std::optional<Event> StreamConsumer::Prepare(const Message& message) {
    if (message.fields.empty()) {
        // The entry was trimmed from the stream while pending: there is nothing left to handle.
        Ack(message.stream_id);
        return std::nullopt;
    }
    if (message.delivery_count > settings_.deliveries_max) {
        DeadLetter(message, "deliveries_max");
        return std::nullopt;
    }
    std::optional<Event> event = ParseEnvelope(FieldValue(message.fields, "envelope"));
    if (!event) {
        DeadLetter(message, "malformed");
        return std::nullopt;
    }
    event->stream_id = message.stream_id;
    event->delivery_count = message.delivery_count;
    return event;
}

bool StreamConsumer::Deliver(const Message& message, const Handler& handler) {
    std::optional<Event> event = Prepare(message);
    if (!event) return false;
    auto log_failure = [&](const std::exception& error) {
        failed_.Increment();
        logger_.Warn("event handler failed; the message stays pending",
                     {{"event_id", event->id},
                      {"type", event->type},
                      {"stream_id", message.stream_id},
                      {"group", settings_.group},
                      {"deliveries", message.delivery_count},
                      {"error", error.what()}});
    };
    if (!RunHandler([&] { handler(*event); }, log_failure)) return false;
    Ack(message.stream_id);
    handled_.Increment();
    return true;
}

std::size_t StreamConsumer::PollOnce(const Handler& handler) {
    std::lock_guard lock(poll_mutex_);
    EnsureGroup();
    std::size_t handled = 0;
    const std::vector<Message> reclaimed = Reclaim();
    for (const auto& message : reclaimed) {
        if (Deliver(message, handler)) ++handled;
    }
    // Block for new entries only when there was nothing to re-claim, so a backlog of pending
    // messages is worked through without waiting.
    for (const auto& message : ReadNew(reclaimed.empty())) {
        if (Deliver(message, handler)) ++handled;
    }
    return handled;
}

void StreamConsumer::Start(Handler handler) {
    worker_.Start([this, handler = std::move(handler)] {
        Run([this, &handler] { return PollOnce(handler); });
    });
}

std::size_t StreamConsumer::DeliverBatch(const std::vector<Message>& messages,
                                         const BatchHandler& handler) {
    std::vector<Event> events;
    for (const auto& message : messages) {
        if (auto event = Prepare(message)) events.push_back(std::move(*event));
    }
    if (events.empty()) return 0;
    auto log_failure = [&](const std::exception& error) {
        failed_.Increment(static_cast<double>(events.size()));
        logger_.Warn("event batch handler failed; the messages stay pending",
                     {{"events", events.size()},
                      {"first_event_id", events.front().id},
                      {"group", settings_.group},
                      {"error", error.what()}});
    };
    if (!RunHandler([&] { handler(events); }, log_failure)) {
        if (events.size() == 1) return 0;
        // Something in the batch was refused: each event is offered alone, so the one that
        // fails alone stays pending (and is dead-lettered after deliveries_max) while its
        // neighbours are handled and acknowledged.
        std::size_t handled = 0;
        for (const auto& event : events) {
            const std::vector<Event> one{event};
            auto log_one = [&](const std::exception& error) {
                logger_.Warn("event handler failed on the event alone; it stays pending",
                             {{"event_id", event.id},
                              {"type", event.type},
                              {"stream_id", event.stream_id},
                              {"group", settings_.group},
                              {"deliveries", event.delivery_count},
                              {"error", error.what()}});
            };
            if (!RunHandler([&] { handler(one); }, log_one)) continue;
            Ack(event.stream_id);
            handled_.Increment();
            ++handled;
        }
        return handled;
    }
    std::vector<std::string> args{"XACK", settings_.stream, settings_.group};
    for (const auto& event : events) args.push_back(event.stream_id);
    RedisReply reply = redis_.Command(args, RedisRetry::kRetryOnce);
    if (reply.is_error()) throw RedisUnavailableError("XACK refused: " + reply.text);
    handled_.Increment(static_cast<double>(events.size()));
    return events.size();
}

std::size_t StreamConsumer::PollBatchOnce(const BatchHandler& handler) {
    std::lock_guard lock(poll_mutex_);
    EnsureGroup();
    const std::vector<Message> reclaimed = Reclaim();
    std::size_t handled = DeliverBatch(reclaimed, handler);
    handled += DeliverBatch(ReadNew(reclaimed.empty()), handler);
    return handled;
}

void StreamConsumer::StartBatch(BatchHandler handler) {
    worker_.Start([this, handler = std::move(handler)] {
        Run([this, &handler] { return PollBatchOnce(handler); });
    });
}

void StreamConsumer::Stop() { worker_.Stop(); }

void StreamConsumer::Run(const std::function<std::size_t()>& poll) {
    Backoff backoff(settings_.backoff_initial, settings_.backoff_max);
    while (!worker_.stopping()) {
        try {
            poll();
            if (backoff.failures() > 0) {
                logger_.Info("stream consumer recovered",
                             {{"stream", settings_.stream},
                              {"group", settings_.group},
                              {"failed_attempts", backoff.failures()}});
                backoff.Reset();
            }
        } catch (const std::exception& error) {
            const std::string_view reason = FailureReason(error);
            failures_.Add({{"group", settings_.group}, {"reason", std::string(reason)}})
                .Increment();
            if (backoff.failures() == 0) {
                logger_.Warn("stream consumer cannot poll; retrying with backoff",
                             {{"stream", settings_.stream},
                              {"group", settings_.group},
                              {"reason", reason},
                              {"error", error.what()}});
            }
            if (!worker_.WaitFor(backoff.Next())) break;
        }
    }
}

}  // namespace commons
