#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "commons/db.hpp"
#include "commons/db_transaction.hpp"
#include "commons/events.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "commons/redis.hpp"
#include "support/devstack.hpp"
#include "support/private_redis.hpp"
#include "support/process.hpp"

namespace commons {
namespace {

using namespace std::chrono_literals;

constexpr const char* kChildStreamVariable = "PAYMENTS_EVENTS_TEST_CHILD_STREAM";
constexpr const char* kChildGroupVariable = "PAYMENTS_EVENTS_TEST_CHILD_GROUP";

DbSettings TestDbSettings() {
    DbSettings settings;
    settings.url = test_support::DatabaseUrl();
    settings.application_name = "commons-events-test";
    settings.pool_size = 4;
    settings.acquire_timeout = 2s;
    settings.statement_timeout = 10s;
    return settings;
}

RedisSettings TestRedisSettings(std::string url) {
    RedisSettings settings;
    settings.url = std::move(url);
    settings.connect_timeout = 500ms;
    settings.command_timeout = 2000ms;
    settings.pool_size = 4;
    settings.acquire_timeout = 1s;
    return settings;
}

// A stream entry as XRANGE returns it.
struct StreamEntry {
    std::string stream_id;
    std::map<std::string, std::string> fields;
};

std::vector<StreamEntry> ReadStream(RedisClient& redis, const std::string& stream) {
    RedisReply reply = redis.Command({"XRANGE", stream, "-", "+"});
    EXPECT_EQ(reply.type, RedisReply::Type::kArray) << reply.text;
    std::vector<StreamEntry> out;
    for (const auto& entry : reply.elements) {
        StreamEntry parsed{entry.elements.at(0).text, {}};
        const auto& fields = entry.elements.at(1).elements;
        for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
            parsed.fields[fields[i].text] = fields[i + 1].text;
        }
        out.push_back(std::move(parsed));
    }
    return out;
}

std::vector<std::string> EventIds(const std::vector<StreamEntry>& entries) {
    std::vector<std::string> ids;
    for (const auto& entry : entries) ids.push_back(entry.fields.at("id"));
    return ids;
}

std::int64_t PendingCount(RedisClient& redis, const std::string& stream, const std::string& group) {
    RedisReply reply = redis.Command({"XPENDING", stream, group});
    EXPECT_EQ(reply.type, RedisReply::Type::kArray) << reply.text;
    return reply.elements.empty() ? -1 : reply.elements[0].integer;
}

// The value of one series in the Prometheus text format, e.g.
// `events_published_total{source="x"}`; -1 when absent.
double MetricValue(const Metrics& metrics, const std::string& series) {
    std::istringstream text(metrics.Serialize());
    for (std::string line; std::getline(text, line);) {
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return -1;
}

std::int64_t UnixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

using test_support::PrivateRedis;

// A log written to a temporary file, so tests can count what was logged.
class CapturedLog {
  public:
    CapturedLog() : file_(std::tmpfile()), logger_("events-test", file_, LogLevel::kInfo) {}
    ~CapturedLog() { std::fclose(file_); }

    Logger& logger() { return logger_; }
    int Count(std::string_view message) {
        std::fflush(file_);
        std::rewind(file_);
        int count = 0;
        char line[8192];
        while (std::fgets(line, sizeof line, file_) != nullptr) {
            if (std::string_view(line).find(message) != std::string_view::npos) ++count;
        }
        std::fseek(file_, 0, SEEK_END);
        return count;
    }

  private:
    std::FILE* file_;
    Logger logger_;
};

// Each test gets its own schema with an outbox (the DDL of every service's 001_outbox.sql) and
// its own stream, and drops both at the end.
class EventsTest : public ::testing::Test {
  protected:
    EventsTest()
        : schema_("events_test_" + RandomHex(6)),
          stream_("test:events:" + RandomHex(6)),
          outbox_(schema_, ids_) {}

    void SetUp() override {
        WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
            tx.exec0("CREATE SCHEMA " + schema_);
            tx.exec0("CREATE TABLE " + schema_ +
                     ".outbox ("
                     " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                     " event_id text NOT NULL UNIQUE CHECK (event_id LIKE 'evt\\_%'),"
                     " type text NOT NULL CHECK (type LIKE '" +
                     schema_ +
                     ".%'),"
                     " data jsonb NOT NULL,"
                     " created_at timestamptz NOT NULL DEFAULT now(),"
                     " published_at timestamptz)");
            tx.exec0("CREATE INDEX outbox_unpublished ON " + schema_ +
                     ".outbox (id) WHERE published_at IS NULL");
        });
    }

    void TearDown() override {
        WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
            tx.exec0("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
        });
        redis_.Command({"DEL", stream_, stream_ + ".dead"});
    }

    std::string Type(std::string_view name) const { return schema_ + "." + std::string(name); }

    std::string AddEvent(std::string_view name, std::string_view data_json) {
        return WithTransaction(
            pool_, [&](pqxx::dbtransaction& tx) { return outbox_.Add(tx, Type(name), data_json); });
    }

    std::vector<std::string> AddEvents(int count) {
        std::vector<std::string> ids;
        for (int i = 0; i < count; ++i) {
            ids.push_back(AddEvent("thing.happened", R"({"n": )" + std::to_string(i) + "}"));
        }
        return ids;
    }

    std::int64_t Query(const std::string& sql) {
        return WithTransaction(
            pool_, [&](pqxx::dbtransaction& tx) { return tx.exec1(sql)[0].as<std::int64_t>(); });
    }

    std::int64_t Unpublished() {
        return Query("SELECT count(*) FROM " + schema_ + ".outbox WHERE published_at IS NULL");
    }

    RelaySettings RelayConfig() const {
        RelaySettings settings;
        settings.schema = schema_;
        settings.stream = stream_;
        settings.idle_poll = 10ms;
        settings.backoff_initial = 10ms;
        settings.backoff_max = 100ms;
        return settings;
    }

    ConsumerSettings ConsumerConfig(std::string consumer, std::string group = "workers") const {
        ConsumerSettings settings;
        settings.stream = stream_;
        settings.group = std::move(group);
        settings.consumer = std::move(consumer);
        settings.block = 100ms;
        settings.redis_command_timeout = 2000ms;
        settings.claim_idle = 100ms;
        settings.backoff_initial = 10ms;
        settings.backoff_max = 100ms;
        return settings;
    }

    ConnectionPool pool_{TestDbSettings()};
    RedisClient redis_{TestRedisSettings(test_support::RedisUrl())};
    IdGenerator ids_;
    Metrics metrics_;
    Logger logger_{"events-test", stderr, LogLevel::kWarn};
    std::string schema_;
    std::string stream_;
    Outbox outbox_;
};

// Collects what a handler saw; thread-safe for background consumers.
class Recorder {
  public:
    StreamConsumer::Handler Handler() {
        return [this](const Event& event) {
            std::lock_guard lock(mutex_);
            events_.push_back(event);
        };
    }
    std::vector<Event> events() {
        std::lock_guard lock(mutex_);
        return events_;
    }
    std::set<std::string> ids() {
        std::set<std::string> out;
        for (const auto& event : events()) out.insert(event.id);
        return out;
    }

  private:
    std::mutex mutex_;
    std::vector<Event> events_;
};

TEST(EventEnvelope, FormatsTheDesignShapeAndParsesItBack) {
    Event event;
    event.id = "evt_01HZX3J6Q8N4T5V6W7X8Y9Z0AB";
    event.type = "payin.payment_intent.succeeded";
    event.source = "payin";
    event.created = 1700000000;
    event.data_json = R"({"amount": 1250, "currency": "USD", "note": "a \"quoted\" word"})";
    const std::string envelope = FormatEnvelope(event);
    EXPECT_EQ(envelope,
              R"({"id":"evt_01HZX3J6Q8N4T5V6W7X8Y9Z0AB","type":"payin.payment_intent.succeeded",)"
              R"("created":1700000000,"source":"payin",)"
              R"("data":{"amount": 1250, "currency": "USD", "note": "a \"quoted\" word"}})");

    auto parsed = ParseEnvelope(envelope);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->id, event.id);
    EXPECT_EQ(parsed->type, event.type);
    EXPECT_EQ(parsed->source, "payin");
    EXPECT_EQ(parsed->created, 1700000000);
    EXPECT_EQ(parsed->data_json, R"({"amount":1250,"currency":"USD","note":"a \"quoted\" word"})");
    EXPECT_EQ(parsed->stream_id, "");
}

TEST(EventEnvelope, RejectsWhatIsNotAnEnvelope) {
    const std::string valid_data = R"("data":{})";
    for (const std::string& json : {
             std::string("not json"),
             std::string("[]"),
             std::string(R"({"type":"a.b","created":1,"source":"a",)") + valid_data + "}",
             std::string(R"({"id":"x_1","type":"a.b","created":1,"source":"a",)") + valid_data +
                 "}",
             std::string(R"({"id":"evt_1","type":"","created":1,"source":"a",)") + valid_data + "}",
             std::string(R"({"id":"evt_1","type":"a.b","created":"1","source":"a",)") + valid_data +
                 "}",
             std::string(R"({"id":"evt_1","type":"a.b","created":1.5,"source":"a",)") + valid_data +
                 "}",
             std::string(R"({"id":"evt_1","type":"a.b","created":1,)") + valid_data + "}",
             std::string(R"({"id":"evt_1","type":"a.b","created":1,"source":"a","data":[]})"),
             std::string(R"({"id":"evt_1","type":"a.b","created":1,"source":"a"})"),
         }) {
        EXPECT_FALSE(ParseEnvelope(json)) << json;
    }
    EXPECT_TRUE(ParseEnvelope(R"({"id":"evt_1","type":"a.b","created":1,"source":"a","data":{}})"));
}

TEST_F(EventsTest, OutboxAddWritesInTheCallersTransaction) {
    std::string rolled_back;
    {
        ConnectionLease lease = pool_.Acquire();
        pqxx::work tx(lease.connection());
        rolled_back = outbox_.Add(tx, Type("thing.created"), R"({"n": 1})");
        // Destroyed without commit: the state change and its event roll back together.
    }
    EXPECT_EQ(Query("SELECT count(*) FROM " + schema_ + ".outbox"), 0);
    EXPECT_THROW(WithTransaction(pool_,
                                 [&](pqxx::dbtransaction& tx) {
                                     outbox_.Add(tx, Type("thing.created"), R"({"n": 2})");
                                     throw std::runtime_error("the use case failed");
                                 }),
                 std::runtime_error);
    EXPECT_EQ(Query("SELECT count(*) FROM " + schema_ + ".outbox"), 0);

    const std::string id = AddEvent("thing.created", R"({"amount": 1250, "currency": "USD"})");
    EXPECT_TRUE(IsGeneratedId(id, "evt"));
    EXPECT_NE(id, rolled_back);
    auto [type, matches, unpublished] = WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto row = tx.exec_params1(
            "SELECT type, data = '{\"amount\": 1250, \"currency\": \"USD\"}'::jsonb,"
            " published_at IS NULL FROM " +
                schema_ + ".outbox WHERE event_id = $1",
            id);
        return std::make_tuple(row[0].as<std::string>(), row[1].as<bool>(), row[2].as<bool>());
    });
    EXPECT_EQ(type, Type("thing.created"));
    EXPECT_TRUE(matches);
    EXPECT_TRUE(unpublished);
}

TEST_F(EventsTest, OutboxAddRejectsMalformedTypesAndData) {
    const std::string longest_type =
        Type(std::string(kEventTypeBytesMax - schema_.size() - 1, 'a'));
    ASSERT_EQ(longest_type.size(), kEventTypeBytesMax);
    const std::string big_data = R"({"x": ")" + std::string(kEventDataBytesMax, 'a') + "\"}";
    WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        for (const std::string& type :
             {std::string(""), std::string("other.thing"), schema_, schema_ + ".", Type("Thing"),
              Type("a..b"), Type("a."), Type("a b"), longest_type + "a"}) {
            EXPECT_THROW(outbox_.Add(tx, type, "{}"), std::invalid_argument) << type;
        }
        for (const std::string& data :
             {std::string(""), std::string("[]"), std::string("42"), std::string("{"),
              std::string(R"({"a": 1} trailing)"), big_data}) {
            EXPECT_THROW(outbox_.Add(tx, Type("thing"), data), std::invalid_argument)
                << data.substr(0, 40);
        }
        EXPECT_NO_THROW(outbox_.Add(tx, longest_type, "{}"));
    });
    EXPECT_EQ(Query("SELECT count(*) FROM " + schema_ + ".outbox"), 1);
}

TEST_F(EventsTest, RelayPublishesInIdOrderWithTheEnvelopeAndMarksRows) {
    const std::int64_t before = UnixNow();
    std::vector<std::string> ids;
    WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        ids.clear();  // the work may be retried
        for (int i = 0; i < 3; ++i) {
            ids.push_back(
                outbox_.Add(tx, Type("batch.item"), R"({"n": )" + std::to_string(i) + "}"));
        }
    });
    ids.push_back(AddEvent("payment.succeeded", R"({"amount": 1250, "currency": "USD"})"));
    ids.push_back(AddEvent("payment.refunded", R"({"amount": 250, "currency": "USD"})"));
    const std::int64_t after = UnixNow();

    OutboxRelay relay(pool_, redis_, RelayConfig(), logger_, metrics_);
    EXPECT_EQ(relay.PublishOnce(), 5u);
    EXPECT_EQ(relay.PublishOnce(), 0u);
    EXPECT_EQ(Unpublished(), 0);
    EXPECT_EQ(relay.CountUnpublished(100), 0u);
    EXPECT_EQ(MetricValue(metrics_, "events_published_total{source=\"" + schema_ + "\"}"), 5);

    const auto entries = ReadStream(redis_, stream_);
    ASSERT_EQ(entries.size(), 5u);
    EXPECT_EQ(EventIds(entries), ids);
    const std::vector<std::string> types{Type("batch.item"), Type("batch.item"), Type("batch.item"),
                                         Type("payment.succeeded"), Type("payment.refunded")};
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& fields = entries[i].fields;
        EXPECT_EQ(fields.at("type"), types[i]);
        EXPECT_EQ(fields.at("source"), schema_);
        auto event = ParseEnvelope(fields.at("envelope"));
        ASSERT_TRUE(event) << fields.at("envelope");
        EXPECT_EQ(event->id, ids[i]);
        EXPECT_EQ(event->type, types[i]);
        EXPECT_EQ(event->source, schema_);
        EXPECT_GE(event->created, before - 1);
        EXPECT_LE(event->created, after);
    }
    EXPECT_EQ(ParseEnvelope(entries[3].fields.at("envelope"))->data_json,
              R"({"amount":1250,"currency":"USD"})");
}

TEST_F(EventsTest, RelayPublishesAtMostBatchMaxRowsPerTransaction) {
    const auto ids = AddEvents(7);
    auto settings = RelayConfig();
    settings.batch_max = 3;
    OutboxRelay relay(pool_, redis_, settings, logger_, metrics_);
    EXPECT_EQ(relay.PublishOnce(), 3u);
    EXPECT_EQ(Unpublished(), 4);
    EXPECT_EQ(relay.PublishOnce(), 3u);
    EXPECT_EQ(relay.PublishOnce(), 1u);
    EXPECT_EQ(relay.PublishOnce(), 0u);
    EXPECT_EQ(EventIds(ReadStream(redis_, stream_)), ids);
}

TEST_F(EventsTest, ConcurrentRelaysPublishEachRowExactlyOnceInIdOrder) {
    // Two replicas: each relay has its own pools, as in two processes.
    ConnectionPool pool_a(TestDbSettings());
    ConnectionPool pool_b(TestDbSettings());
    RedisClient redis_a(TestRedisSettings(test_support::RedisUrl()));
    RedisClient redis_b(TestRedisSettings(test_support::RedisUrl()));
    auto settings = RelayConfig();
    settings.batch_max = 7;
    OutboxRelay relay_a(pool_a, redis_a, settings, logger_, metrics_);
    OutboxRelay relay_b(pool_b, redis_b, settings, logger_, metrics_);
    relay_a.Start();
    relay_b.Start();

    constexpr int kTransactions = 40;
    constexpr int kEventsPerTransaction = 8;
    std::vector<std::string> ids;
    for (int t = 0; t < kTransactions; ++t) {
        auto batch = WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
            std::vector<std::string> added;
            for (int i = 0; i < kEventsPerTransaction; ++i) {
                added.push_back(outbox_.Add(tx, Type("thing.happened"), R"({"i": 1})"));
            }
            return added;
        });
        ids.insert(ids.end(), batch.begin(), batch.end());
    }
    const std::size_t total = ids.size();
    EXPECT_TRUE(test_support::PollUntil(30s, [&] { return Unpublished() == 0; }));
    relay_a.Stop();
    relay_b.Stop();

    const auto published = EventIds(ReadStream(redis_, stream_));
    EXPECT_EQ(published.size(), total);
    EXPECT_EQ(std::set<std::string>(published.begin(), published.end()).size(), total);
    // Writers commit in id order here, so the stream order must be exactly the write order.
    EXPECT_EQ(published, ids);
    EXPECT_EQ(MetricValue(metrics_, "events_published_total{source=\"" + schema_ + "\"}"),
              static_cast<double>(total));
}

TEST_F(EventsTest, RelayKeepsRowsUnpublishedWhileRedisIsDownAndLosesNoneAfterItReturns) {
    PrivateRedis private_redis;
    RedisClient redis(TestRedisSettings(private_redis.url()));
    CapturedLog log;
    OutboxRelay relay(pool_, redis, RelayConfig(), log.logger(), metrics_);

    const auto before_outage = AddEvents(5);
    ASSERT_EQ(relay.PublishOnce(), 5u);
    EXPECT_EQ(EventIds(ReadStream(redis, stream_)), before_outage);

    ASSERT_TRUE(private_redis.Kill());
    auto during_outage = AddEvents(10);
    EXPECT_THROW(relay.PublishOnce(), RedisUnavailableError);
    EXPECT_EQ(Unpublished(), 10);

    // The background loop keeps failing, backs off, and logs that once.
    relay.Start();
    const std::string failures =
        "events_relay_failures_total{reason=\"redis_unavailable\",source=\"" + schema_ + "\"}";
    EXPECT_TRUE(test_support::PollUntil(10s, [&] { return MetricValue(metrics_, failures) >= 4; }));
    const auto more = AddEvents(5);
    during_outage.insert(during_outage.end(), more.begin(), more.end());
    EXPECT_EQ(Unpublished(), 15);

    private_redis.Start();  // empty: what was published before the outage is gone from Redis
    EXPECT_TRUE(test_support::PollUntil(20s, [&] { return Unpublished() == 0; }));
    relay.Stop();

    // Every event written during the outage arrived, in order and exactly once; together with
    // those read before it, none is lost.
    EXPECT_EQ(EventIds(ReadStream(redis, stream_)), during_outage);
    EXPECT_EQ(log.Count("events relay failing"), 1);
    EXPECT_EQ(log.Count("events relay recovered"), 1);
}

// Redis refusing one entry in the middle of a batch does not send its neighbours again: the
// entries already on the stream are marked published, the refused one and those after it wait.
TEST_F(EventsTest, RelayRefusedMidBatchKeepsWhatWasPublishedAndSendsTheRestOnce) {
    PrivateRedis private_redis;
    RedisClient redis(TestRedisSettings(private_redis.url()));
    const std::string data = R"({"blob": ")" + std::string(64 * 1024, 'x') + "\"}";
    std::vector<std::string> ids;
    for (int i = 0; i < 10; ++i) ids.push_back(AddEvent("blob.stored", data));

    // Leave Redis room for a few entries only, so an XADD in the middle of the batch is refused.
    RedisReply info = redis.Command({"INFO", "memory"});
    const auto at = info.text.find("used_memory:");
    ASSERT_NE(at, std::string::npos);
    const long long used = std::stoll(info.text.substr(at + std::string("used_memory:").size()));
    ASSERT_EQ(redis.Command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}).text, "OK");
    ASSERT_EQ(redis.Command({"CONFIG", "SET", "maxmemory", std::to_string(used + 200'000)}).text,
              "OK");

    OutboxRelay relay(pool_, redis, RelayConfig(), logger_, metrics_);
    EXPECT_THROW(relay.PublishOnce(), RedisUnavailableError);
    const auto partial = ReadStream(redis, stream_).size();
    EXPECT_GE(partial, 1u);
    EXPECT_LT(partial, ids.size());
    // The entries that reached the stream are marked; the rest wait.
    EXPECT_EQ(Unpublished(), static_cast<std::int64_t>(ids.size() - partial));

    ASSERT_EQ(redis.Command({"CONFIG", "SET", "maxmemory", "0"}).text, "OK");
    EXPECT_EQ(relay.PublishOnce(), ids.size() - partial);
    EXPECT_EQ(Unpublished(), 0);
    // Every event on the stream once, in order.
    EXPECT_EQ(EventIds(ReadStream(redis, stream_)), ids);
}

TEST_F(EventsTest, PurgeDeletesOnlyPublishedRowsOlderThanTheRetention) {
    const auto ids = AddEvents(6);
    auto settings = RelayConfig();
    settings.batch_max = 4;
    OutboxRelay relay(pool_, redis_, settings, logger_, metrics_);
    ASSERT_EQ(relay.PublishOnce(), 4u);
    EXPECT_EQ(relay.PurgePublished(std::chrono::seconds(3600), 100), 0u);  // too recent
    WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        tx.exec0("UPDATE " + schema_ +
                 ".outbox SET published_at = now() - interval '2 hours'"
                 " WHERE published_at IS NOT NULL");
    });
    EXPECT_EQ(relay.PurgePublished(std::chrono::seconds(3600), 3), 3u);
    EXPECT_EQ(relay.PurgePublished(std::chrono::seconds(3600), 3), 1u);
    EXPECT_EQ(relay.PurgePublished(std::chrono::seconds(3600), 3), 0u);
    EXPECT_EQ(Query("SELECT count(*) FROM " + schema_ + ".outbox"), 2);  // the unpublished two
    EXPECT_EQ(Unpublished(), 2);
}

TEST_F(EventsTest, ConsumerHandlesEventsInStreamOrderAndAcksThem) {
    const auto ids = AddEvents(3);
    OutboxRelay relay(pool_, redis_, RelayConfig(), logger_, metrics_);
    ASSERT_EQ(relay.PublishOnce(), 3u);

    // The group is created after the events were published and still sees them: it starts at
    // the beginning of the stream.
    StreamConsumer consumer(redis_, ConsumerConfig("a"), logger_, metrics_);
    Recorder recorder;
    EXPECT_EQ(consumer.PollOnce(recorder.Handler()), 3u);
    const auto events = recorder.events();
    ASSERT_EQ(events.size(), 3u);
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i].id, ids[i]);
        EXPECT_EQ(events[i].type, Type("thing.happened"));
        EXPECT_EQ(events[i].source, schema_);
        EXPECT_EQ(events[i].data_json, R"({"n":)" + std::to_string(i) + "}");
        EXPECT_EQ(events[i].delivery_count, 1);
        EXPECT_FALSE(events[i].stream_id.empty());
    }
    EXPECT_EQ(PendingCount(redis_, stream_, "workers"), 0);
    EXPECT_EQ(consumer.PollOnce(recorder.Handler()), 0u);
    EXPECT_EQ(MetricValue(metrics_, R"(events_consumed_total{group="workers",result="handled"})"),
              3);
}

TEST_F(EventsTest, GroupStartingAtNewEntriesSkipsTheHistory) {
    AddEvents(2);
    OutboxRelay relay(pool_, redis_, RelayConfig(), logger_, metrics_);
    ASSERT_EQ(relay.PublishOnce(), 2u);
    auto settings = ConsumerConfig("a", "live");
    settings.start = GroupStart::kNewEntriesOnly;
    StreamConsumer consumer(redis_, settings, logger_, metrics_);
    Recorder recorder;
    EXPECT_EQ(consumer.PollOnce(recorder.Handler()), 0u);
    const auto later = AddEvents(1);
    ASSERT_EQ(relay.PublishOnce(), 1u);
    EXPECT_EQ(consumer.PollOnce(recorder.Handler()), 1u);
    EXPECT_EQ(recorder.ids(), std::set<std::string>(later.begin(), later.end()));
}

TEST_F(EventsTest, FailedHandlerLeavesTheMessagePendingUntilAnotherConsumerReclaimsIt) {
    const auto ids = AddEvents(1);
    OutboxRelay relay(pool_, redis_, RelayConfig(), logger_, metrics_);
    ASSERT_EQ(relay.PublishOnce(), 1u);

    StreamConsumer failing(redis_, ConsumerConfig("failing"), logger_, metrics_);
    int attempts = 0;
    EXPECT_EQ(failing.PollOnce([&](const Event&) {
        ++attempts;
        throw std::runtime_error("subscriber store refused");
    }),
              0u);
    EXPECT_EQ(attempts, 1);
    EXPECT_EQ(PendingCount(redis_, stream_, "workers"), 1);

    StreamConsumer healthy(redis_, ConsumerConfig("healthy"), logger_, metrics_);
    Recorder recorder;
    EXPECT_TRUE(
        test_support::PollUntil(10s, [&] { return healthy.PollOnce(recorder.Handler()) > 0; }));
    const auto events = recorder.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].id, ids[0]);
    EXPECT_EQ(events[0].delivery_count, 2);
    EXPECT_EQ(PendingCount(redis_, stream_, "workers"), 0);
}

TEST_F(EventsTest, ABatchHandlerRefusingOneEventStillHandlesItsNeighbours) {
    const auto ids = AddEvents(3);
    OutboxRelay relay(pool_, redis_, RelayConfig(), logger_, metrics_);
    ASSERT_EQ(relay.PublishOnce(), 3u);
    StreamConsumer consumer(redis_, ConsumerConfig("batch"), logger_, metrics_);
    std::vector<std::vector<std::string>> calls;
    std::vector<std::string> handled;
    const std::size_t count = consumer.PollBatchOnce([&](const std::vector<Event>& events) {
        calls.emplace_back();
        for (const auto& event : events) calls.back().push_back(event.id);
        for (const auto& event : events) {
            if (event.id == ids[1]) throw std::runtime_error("subscriber store refused it");
        }
        for (const auto& event : events) handled.push_back(event.id);
    });
    EXPECT_EQ(count, 2u);
    ASSERT_EQ(calls.size(), 4u);  // the batch, then each event alone
    EXPECT_EQ(calls[0], ids);
    EXPECT_EQ(handled, (std::vector<std::string>{ids[0], ids[2]}));
    EXPECT_EQ(PendingCount(redis_, stream_, "workers"), 1);  // only the refused one
}

TEST_F(EventsTest, HandlerLosingItsDatabaseStopsThePollAndLeavesTheMessagePending) {
    AddEvents(2);
    OutboxRelay relay(pool_, redis_, RelayConfig(), logger_, metrics_);
    ASSERT_EQ(relay.PublishOnce(), 2u);
    StreamConsumer consumer(redis_, ConsumerConfig("a"), logger_, metrics_);
    int calls = 0;
    EXPECT_THROW(consumer.PollOnce([&](const Event&) {
        ++calls;
        throw DatabaseUnavailableError("database connection lost");
    }),
                 DatabaseUnavailableError);
    EXPECT_EQ(calls, 1);  // the second message was not offered to a handler that cannot work
    EXPECT_EQ(PendingCount(redis_, stream_, "workers"), 2);
}

// Runs only as the child process of MessageOfAKilledConsumerIsHandledByAnother (which sets the
// variables): takes one message, reports it, and hangs in the handler until it is killed.
TEST(EventsChild, HoldsOneMessageUntilKilled) {
    const char* stream = std::getenv(kChildStreamVariable);
    const char* group = std::getenv(kChildGroupVariable);
    if (stream == nullptr || group == nullptr) return;  // not started as the child
    RedisClient redis(TestRedisSettings(test_support::RedisUrl()));
    Metrics metrics;
    Logger logger("events-child", stderr);
    ConsumerSettings settings;
    settings.stream = stream;
    settings.group = group;
    settings.consumer = ConsumerName("child");
    settings.block = 1000ms;
    StreamConsumer consumer(redis, settings, logger, metrics);
    consumer.PollOnce([](const Event& event) {
        std::printf("holding %s\n", event.id.c_str());
        std::fflush(stdout);
        for (;;) ::pause();
    });
    FAIL() << "the child found no message to hold";
}

TEST_F(EventsTest, MessageOfAKilledConsumerIsHandledByAnother) {
    const auto ids = AddEvents(1);
    OutboxRelay relay(pool_, redis_, RelayConfig(), logger_, metrics_);
    ASSERT_EQ(relay.PublishOnce(), 1u);

    auto environment = test_support::CurrentEnvironment();
    environment[kChildStreamVariable] = stream_;
    environment[kChildGroupVariable] = "workers";
    test_support::ChildProcess child(std::filesystem::read_symlink("/proc/self/exe").string(),
                                     {"--gtest_filter=EventsChild.HoldsOneMessageUntilKilled"},
                                     environment);
    ASSERT_TRUE(test_support::PollUntil(20s, [&] {
        return child.Output().find("holding " + ids[0]) != std::string::npos;
    })) << child.Output();
    child.Signal(SIGKILL);
    ASSERT_EQ(child.WaitForExit(10s), 128 + SIGKILL);
    EXPECT_EQ(PendingCount(redis_, stream_, "workers"), 1);  // taken, never acked

    StreamConsumer survivor(redis_, ConsumerConfig("survivor"), logger_, metrics_);
    Recorder recorder;
    EXPECT_TRUE(
        test_support::PollUntil(10s, [&] { return survivor.PollOnce(recorder.Handler()) > 0; }));
    const auto events = recorder.events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].id, ids[0]);
    EXPECT_EQ(events[0].delivery_count, 2);
    EXPECT_EQ(PendingCount(redis_, stream_, "workers"), 0);
}

TEST_F(EventsTest, MessageFailingDeliveriesMaxTimesGoesToTheDeadLetterStream) {
    const auto ids = AddEvents(1);
    OutboxRelay relay(pool_, redis_, RelayConfig(), logger_, metrics_);
    ASSERT_EQ(relay.PublishOnce(), 1u);
    auto settings = ConsumerConfig("a");
    settings.deliveries_max = 3;
    settings.claim_idle = 20ms;
    StreamConsumer consumer(redis_, settings, logger_, metrics_);
    int attempts = 0;
    auto failing = [&](const Event&) {
        ++attempts;
        throw std::runtime_error("always fails");
    };
    EXPECT_TRUE(test_support::PollUntil(10s, [&] {
        consumer.PollOnce(failing);
        return !ReadStream(redis_, stream_ + ".dead").empty();
    }));
    EXPECT_EQ(attempts, 3);
    EXPECT_EQ(PendingCount(redis_, stream_, "workers"), 0);
    const auto dead = ReadStream(redis_, stream_ + ".dead");
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].fields.at("id"), ids[0]);
    EXPECT_EQ(dead[0].fields.at("reason"), "deliveries_max");
    EXPECT_EQ(dead[0].fields.at("deliveries"), "4");
    EXPECT_EQ(dead[0].fields.at("group"), "workers");
    EXPECT_EQ(ParseEnvelope(dead[0].fields.at("envelope"))->id, ids[0]);
    EXPECT_EQ(dead[0].fields.at("stream_id"), ReadStream(redis_, stream_).at(0).stream_id);
}

TEST_F(EventsTest, MalformedMessageGoesToTheDeadLetterStreamWithoutReachingTheHandler) {
    ASSERT_EQ(redis_.Command({"XADD", stream_, "*", "envelope", "{not json"}).type,
              RedisReply::Type::kString);
    StreamConsumer consumer(redis_, ConsumerConfig("a"), logger_, metrics_);
    int calls = 0;
    EXPECT_EQ(consumer.PollOnce([&](const Event&) { ++calls; }), 0u);
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(PendingCount(redis_, stream_, "workers"), 0);
    const auto dead = ReadStream(redis_, stream_ + ".dead");
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].fields.at("reason"), "malformed");
    EXPECT_EQ(dead[0].fields.at("envelope"), "{not json");
}

TEST_F(EventsTest, BackgroundRelayAndConsumerDeliverEveryEventAcrossARedisRestart) {
    PrivateRedis private_redis;
    RedisClient redis(TestRedisSettings(private_redis.url()));
    OutboxRelay relay(pool_, redis, RelayConfig(), logger_, metrics_);
    StreamConsumer consumer(redis, ConsumerConfig("a"), logger_, metrics_);
    Recorder recorder;
    relay.Start();
    consumer.Start(recorder.Handler());

    auto ids = AddEvents(5);
    EXPECT_TRUE(test_support::PollUntil(10s, [&] { return recorder.ids().size() == 5; }));

    ASSERT_TRUE(private_redis.Kill());
    const auto during_outage = AddEvents(5);
    ids.insert(ids.end(), during_outage.begin(), during_outage.end());
    // The consumer re-creates its group on the empty Redis, from the beginning of the stream,
    // so nothing the relay republishes in between is skipped.
    private_redis.Start();
    EXPECT_TRUE(test_support::PollUntil(20s, [&] { return recorder.ids().size() == 10; }));

    const auto stop_started = std::chrono::steady_clock::now();
    consumer.Stop();
    relay.Stop();
    EXPECT_LT(std::chrono::steady_clock::now() - stop_started, 2s);
    EXPECT_EQ(recorder.ids(), std::set<std::string>(ids.begin(), ids.end()));
    EXPECT_EQ(Unpublished(), 0);
}

}  // namespace
}  // namespace commons
