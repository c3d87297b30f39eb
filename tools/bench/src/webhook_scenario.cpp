#include "bench/webhook_scenario.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "bench/cpu_usage.hpp"
#include "bench/engine.hpp"
#include "bench/pacing.hpp"
#include "bench/webhook_book.hpp"
#include "bench/webhook_receiver.hpp"
#include "commons/assert.hpp"
#include "commons/events.hpp"
#include "commons/http/client.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/redis.hpp"

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;
using commons::http::ClientError;
using commons::http::ClientRequest;
using commons::http::ClientResponse;
using commons::http::Method;

// Setup and teardown requests (health, endpoints) are few; a couple of connections suffice.
constexpr std::size_t kAdminConnections = 2;
constexpr int kAdminAttemptsMax = 3;
// An admin request waits at least this long per attempt: deleting an endpoint takes row locks
// the delivery engine may hold for a while under load, and a deletion that gives up leaves
// an endpoint behind.
constexpr std::chrono::milliseconds kAdminRequestTimeoutMin{30'000};
// Past this many failed publishes the rest of the run would only fail too: stop publishing.
constexpr std::uint64_t kPublishFailuresMax = 1000;
// Error bodies quoted in messages are cut here.
constexpr std::size_t kQuotedBodyBytesMax = 300;
// The event source of bench's events, and the first segment of their types.
constexpr std::string_view kSource = "bench";

std::string Quoted(std::string_view body) {
    std::string text(body.substr(0, kQuotedBodyBytesMax));
    if (body.size() > kQuotedBodyBytesMax) text += "...";
    return text;
}

std::string Seconds(Clock::duration elapsed) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2fs", std::chrono::duration<double>(elapsed).count());
    return text;
}

std::chrono::milliseconds Millis(std::chrono::nanoseconds value) {
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(value));
}

std::int64_t UnixMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool IsUnreachable(const ClientError& error) {
    return error.kind() == ClientError::Kind::kConnect ||
           error.kind() == ClientError::Kind::kResolve;
}

// SIGINT and SIGTERM, taken by a thread of its own with sigtimedwait instead of a handler, so
// no global flag is needed: the signals are blocked in the constructing thread before any
// other thread starts (threads inherit the mask), and the watcher sets stop() on the first.
// Later ones are taken too, so the endpoints are still deleted after a second Ctrl-C.
class SignalWatcher {
  public:
    SignalWatcher() {
        sigemptyset(&signals_);
        sigaddset(&signals_, SIGINT);
        sigaddset(&signals_, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
        thread_ = std::thread([this] {
            const timespec tick{0, 100'000'000};
            while (!done_.load()) {
                if (sigtimedwait(&signals_, nullptr, &tick) > 0) stop_.store(true);
            }
        });
    }
    ~SignalWatcher() {
        done_.store(true);
        thread_.join();
        pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }
    SignalWatcher(const SignalWatcher&) = delete;
    SignalWatcher& operator=(const SignalWatcher&) = delete;

    const std::atomic<bool>& stop() const { return stop_; }

  private:
    sigset_t signals_{};
    sigset_t previous_{};
    std::atomic<bool> stop_{false};
    std::atomic<bool> done_{false};
    std::thread thread_;
};

// Names of one scenario's events and subscription.
struct ScenarioTypes {
    std::string pattern;  // bench.<run>.<scenario>.*
    std::string load;     // bench.<run>.<scenario>.created
    std::string prime;    // bench.<run>.<scenario>.primed
};

ScenarioTypes TypesOf(std::string_view run, WebhookScenario scenario) {
    const std::string prefix = std::string(kSource) + "." + std::string(run) + "." +
                               std::string(WebhookScenarioName(scenario));
    return {prefix + ".*", prefix + ".created", prefix + ".primed"};
}

// Talks to webhook-service's admin API: health and endpoints.
class AdminApi {
  public:
    AdminApi(const WebhookRunSettings& settings, commons::Logger& logger)
        : base_(settings.url),
          api_key_(settings.api_key),
          client_(ClientSettingsFor(settings), logger) {
        while (!base_.empty() && base_.back() == '/') base_.pop_back();
    }

    void CheckHealth() {
        ClientRequest request;
        request.url = base_ + "/health";
        try {
            const ClientResponse response = client_.Send(request);
            if (response.status != 200) {
                throw std::runtime_error("GET " + request.url + " answered " +
                                         std::to_string(response.status) + " " +
                                         Quoted(response.body));
            }
        } catch (const ClientError& error) {
            if (IsUnreachable(error))
                throw TargetUnreachableError(request.url + ": " + error.what());
            throw std::runtime_error("GET " + request.url + ": " + error.what());
        }
    }

    // Creates one endpoint and returns its id.
    std::string CreateEndpoint(const std::string& url, const std::string& pattern,
                               const std::optional<std::uint32_t>& max_in_flight,
                               const std::string& description) {
        nlohmann::json body = {{"url", url},
                               {"event_types", {pattern}},
                               {"description", description},
                               {"rate_limit_per_second", nullptr}};
        if (max_in_flight) body["max_in_flight"] = *max_in_flight;
        ClientRequest request = Authorized(Method::kPost, base_ + "/v1/endpoints");
        request.body = body.dump();
        request.retry = commons::http::RetryPolicy::kNever;  // a retry could make two
        const ClientResponse response = Send(request);
        if (response.status != 201) {
            std::string message = "POST " + request.url + " answered " +
                                  std::to_string(response.status) + " " + Quoted(response.body);
            if (response.status == 401 || response.status == 403) {
                message += "; give a key with scope webhook:admin (--api-key)";
            } else if (response.body.find("url_") != std::string::npos) {
                message +=
                    "; start webhook-service with PAYMENTS_WEBHOOK_ALLOW_PRIVATE_TARGETS=1 and "
                    "PAYMENTS_WEBHOOK_ALLOW_HTTP=1 so it may deliver to bench's receiver";
            }
            throw std::runtime_error(message);
        }
        const auto parsed = nlohmann::json::parse(response.body, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("id") ||
            !parsed["id"].is_string()) {
            throw std::runtime_error("POST " + request.url +
                                     " answered 201 without an id: " + Quoted(response.body));
        }
        return parsed["id"].get<std::string>();
    }

    // Deletes an endpoint; returns what went wrong, if anything. Never throws: it runs while
    // cleaning up after another failure.
    std::optional<std::string> DeleteEndpoint(const std::string& id) {
        ClientRequest request = Authorized(Method::kDelete, base_ + "/v1/endpoints/" + id);
        try {
            const ClientResponse response = client_.Send(request);
            if (response.status == 200 || response.status == 404) return std::nullopt;
            return "DELETE " + request.url + " answered " + std::to_string(response.status) + " " +
                   Quoted(response.body) + "; endpoint " + id + " is left behind";
        } catch (const ClientError& error) {
            return "DELETE " + request.url + ": " + error.what() + "; endpoint " + id +
                   " is left behind";
        }
    }

  private:
    static commons::http::ClientSettings ClientSettingsFor(const WebhookRunSettings& settings) {
        commons::http::ClientSettings client;
        client.request_timeout =
            std::max(kAdminRequestTimeoutMin, Millis(settings.request_timeout));
        client.connect_timeout = Millis(settings.request_timeout);
        client.connections_per_host_max = kAdminConnections;
        client.attempts_max = kAdminAttemptsMax;
        client.user_agent = "bench";
        return client;
    }

    ClientRequest Authorized(Method method, std::string url) const {
        ClientRequest request;
        request.method = method;
        request.url = std::move(url);
        request.headers = {{"Authorization", "Bearer " + api_key_},
                           {"Content-Type", "application/json"}};
        return request;
    }

    ClientResponse Send(const ClientRequest& request) {
        try {
            return client_.Send(request);
        } catch (const ClientError& error) {
            const std::string message =
                std::string(MethodName(request.method)) + " " + request.url + ": " + error.what();
            if (IsUnreachable(error)) throw TargetUnreachableError(message);
            throw std::runtime_error(message);
        }
    }

    std::string base_;
    std::string api_key_;
    commons::http::HttpClient client_;
};

// The endpoints of one scenario; deleted when it goes out of scope, whatever happened.
class EndpointSet {
  public:
    EndpointSet(AdminApi& api, const ProgressSink& progress) : api_(api), progress_(progress) {}
    ~EndpointSet() {
        for (const std::string& id : ids_) {
            if (auto problem = api_.DeleteEndpoint(id)) {
                if (progress_) progress_("teardown: " + *problem);
            }
        }
    }
    EndpointSet(const EndpointSet&) = delete;
    EndpointSet& operator=(const EndpointSet&) = delete;

    void Add(std::string id) { ids_.push_back(std::move(id)); }
    std::size_t size() const { return ids_.size(); }

  private:
    AdminApi& api_;
    const ProgressSink& progress_;
    std::vector<std::string> ids_;
};

// Publishes one event, by XADD or POST /v1/events. Thread-safe.
class Publisher {
  public:
    Publisher(const WebhookRunSettings& settings, commons::Logger& logger) : settings_(settings) {
        if (settings.publish == PublishPath::kStream) {
            commons::RedisSettings redis;
            redis.url = settings.redis_url;
            redis.connect_timeout = Millis(settings.request_timeout);
            redis.command_timeout = redis.connect_timeout;
            redis.acquire_timeout = redis.connect_timeout;
            redis.pool_size = settings.publishers;
            redis_ = std::make_unique<commons::RedisClient>(redis);
        } else {
            commons::http::ClientSettings client;
            client.request_timeout = Millis(settings.request_timeout);
            client.connect_timeout = client.request_timeout;
            client.connections_per_host_max = settings.publishers;
            client.attempts_max = 1;  // a repeated POST /v1/events is a second event
            client.user_agent = "bench";
            http_ = std::make_unique<commons::http::HttpClient>(client, logger);
            events_url_ = settings.url;
            while (!events_url_.empty() && events_url_.back() == '/') events_url_.pop_back();
            events_url_ += "/v1/events";
        }
    }

    void CheckReachable() {
        if (!redis_) return;
        const std::string problem = redis_->Ping();
        if (!problem.empty()) {
            throw TargetUnreachableError("Redis at " + settings_.redis_url + ": " + problem);
        }
    }

    std::string Describe() const {
        if (redis_) return "XADD to stream " + settings_.stream;
        return "POST " + events_url_;
    }

    // Publishes an event of `type` with `data_json`; returns what failed, if anything. A
    // failure may still have published the event (a timeout after the server took it).
    std::optional<std::string> Publish(const std::string& type, const std::string& data_json) {
        return redis_ ? Xadd(type, data_json) : Post(type, data_json);
    }

  private:
    std::optional<std::string> Xadd(const std::string& type, const std::string& data_json) {
        commons::Event event;
        event.id = ids_.Next("evt");
        event.type = type;
        event.source = std::string(kSource);
        event.created = UnixMicros() / 1'000'000;
        event.data_json = data_json;
        try {
            // The fields of the outbox relay's entries; no MAXLEN: bench's entries are few and
            // trimming could drop some the service has not read yet.
            const commons::RedisReply reply = redis_->Command(
                {"XADD", settings_.stream, "*", "id", event.id, "type", event.type, "source",
                 event.source, "envelope", commons::FormatEnvelope(event)},
                commons::RedisRetry::kNever);
            if (reply.type != commons::RedisReply::Type::kString) {
                return "XADD " + settings_.stream + " answered " + reply.text;
            }
            return std::nullopt;
        } catch (const commons::RedisUnavailableError& error) {
            return "XADD " + settings_.stream + ": " + error.what();
        }
    }

    std::optional<std::string> Post(const std::string& type, const std::string& data_json) {
        ClientRequest request;
        request.method = Method::kPost;
        request.url = events_url_;
        request.headers = {{"Authorization", "Bearer " + settings_.api_key},
                           {"Content-Type", "application/json"}};
        request.body = R"({"type":")" + type + R"(","data":)" + data_json + "}";
        request.retry = commons::http::RetryPolicy::kNever;
        try {
            const ClientResponse response = http_->Send(request);
            if (response.status == 201) return std::nullopt;
            std::string message = "POST " + events_url_ + " answered " +
                                  std::to_string(response.status) + " " + Quoted(response.body);
            if (response.status == 429) {
                message +=
                    "; webhook-service rate-limits the key: start it with "
                    "PAYMENTS_RATE_LIMIT_PER_SECOND=0";
            }
            return message;
        } catch (const ClientError& error) {
            return "POST " + events_url_ + ": " + error.what();
        }
    }

    const WebhookRunSettings& settings_;
    commons::IdGenerator ids_;
    std::unique_ptr<commons::RedisClient> redis_;
    std::unique_ptr<commons::http::HttpClient> http_;
    std::string events_url_;
};

// What the publishing threads did.
struct PublishOutcome {
    Clock::duration elapsed{};
    std::uint64_t failures = 0;
    std::optional<std::string> first_failure;
};

// Sleeps until `due` in steps of at most kStopCheck; false when `stop` was set first.
bool SleepUntil(Clock::time_point due, const std::atomic<bool>& stop) {
    while (!stop.load()) {
        const auto now = Clock::now();
        if (now >= due) return true;
        std::this_thread::sleep_until(std::min(due, now + WebhookReceiver::kStopCheck));
    }
    return false;
}

// Publishes events 0, 1, ... of one scenario from settings.publishers threads: publisher k
// takes k, k + publishers, ... Paced, event i is due at i / rate after the start and the
// events due within `duration` are published; unpaced, each thread publishes back to back
// until `duration` has passed. Either way at most the book's capacity. Each event is recorded
// as published just before it is sent, and retracted if sending failed.
PublishOutcome PublishLoad(const WebhookRunSettings& settings, Publisher& publisher,
                           WebhookReceiver& receiver, const std::string& type,
                           const std::string& run, std::uint64_t capacity,
                           const std::atomic<bool>& stop) {
    PublishOutcome outcome;
    std::mutex mutex;  // guards outcome
    std::atomic<std::uint64_t> failures{0};
    const std::optional<RateSchedule> schedule =
        settings.rate_per_second > 0 ? std::optional<RateSchedule>(settings.rate_per_second)
                                     : std::nullopt;
    const Clock::time_point start = Clock::now();
    const Clock::time_point end =
        start + std::chrono::duration_cast<Clock::duration>(settings.duration);
    const auto publish = [&](std::uint32_t part) {
        for (std::uint64_t seq = part; seq < capacity; seq += settings.publishers) {
            if (stop.load() || failures.load() >= kPublishFailuresMax) return;
            if (schedule) {
                const Clock::time_point due =
                    start + std::chrono::duration_cast<Clock::duration>(schedule->OffsetOf(seq));
                if (due >= end || !SleepUntil(due, stop)) return;
            } else if (Clock::now() >= end) {
                return;
            }
            const Micros at = receiver.Now();
            receiver.Published(seq, at);
            if (auto problem = publisher.Publish(type, BenchEventData(seq, UnixMicros(), run))) {
                receiver.Retract(seq);
                failures.fetch_add(1);
                std::lock_guard lock(mutex);
                if (!outcome.first_failure) outcome.first_failure = std::move(problem);
            }
        }
    };
    std::vector<std::thread> threads;
    for (std::uint32_t part = 0; part < settings.publishers; ++part) {
        threads.emplace_back(publish, part);
    }
    for (std::thread& thread : threads) thread.join();
    outcome.elapsed = Clock::now() - start;
    outcome.failures = failures.load();
    return outcome;
}

std::string PrimeFailure(const WebhookRunSettings& settings, std::string_view scenario,
                         std::uint32_t primed, std::uint32_t endpoints) {
    std::string message = std::string(scenario) + ": the priming event reached " +
                          std::to_string(primed) + " of " + std::to_string(endpoints) +
                          " endpoints within --drain-timeout " +
                          FormatDuration(settings.drain_timeout) + ". ";
    if (settings.publish == PublishPath::kStream) {
        message += "Is webhook-service reading stream \"" + settings.stream +
                   "\" (its PAYMENTS_EVENTS_STREAM) from the same Redis (" + settings.redis_url +
                   ")? ";
    }
    message +=
        "It must run with PAYMENTS_WEBHOOK_ALLOW_PRIVATE_TARGETS=1 and "
        "PAYMENTS_WEBHOOK_ALLOW_HTTP=1; its log says why deliveries fail.";
    return message;
}

}  // namespace

WebhookReport RunWebhookScenarios(const WebhookRunSettings& settings, std::string label,
                                  const ProgressSink& progress) {
    PAY_ASSERT(!settings.scenarios.empty());
    PAY_ASSERT(settings.publishers >= 1);
    // First, before any thread starts, so every thread inherits the blocked signals.
    SignalWatcher signals;
    const std::atomic<bool>& stop = signals.stop();

    const std::string run = "r" + commons::RandomHex(5);
    commons::Logger logger("bench", stderr, commons::LogLevel::kWarn);
    WebhookReceiver receiver(run, settings.receiver_port);
    try {
        receiver.Start();
    } catch (const std::system_error& error) {
        throw std::runtime_error("the receiver cannot listen on 127.0.0.1:" +
                                 std::to_string(settings.receiver_port) + ": " + error.what());
    }
    AdminApi api(settings, logger);
    api.CheckHealth();
    Publisher publisher(settings, logger);
    publisher.CheckReachable();

    WebhookReport report;
    report.label = std::move(label);
    report.attributes = {{"run", run},
                         {"url", settings.url},
                         {"publish", publisher.Describe()},
                         {"publishers", std::to_string(settings.publishers)},
                         {"receiver", receiver.BaseUrl()}};

    std::uint64_t prime_round = 0;
    for (WebhookScenario scenario : settings.scenarios) {
        const std::string name(WebhookScenarioName(scenario));
        const std::uint32_t endpoints = EndpointsOf(scenario);
        const ScenarioTypes types = TypesOf(run, scenario);
        const std::uint64_t capacity = WebhookEventsCapacity(
            settings.rate_per_second, settings.duration, endpoints, settings.publishers);
        receiver.Begin(name, endpoints, capacity, ++prime_round);

        const Clock::time_point setup_started = Clock::now();
        EndpointSet created(api, progress);
        for (std::uint32_t k = 0; k < endpoints; ++k) {
            created.Add(api.CreateEndpoint(receiver.Url(name, k), types.pattern,
                                           settings.max_in_flight,
                                           "bench webhook " + run + " " + name));
        }
        if (auto problem = publisher.Publish(types.prime, BenchPrimeData(prime_round, run))) {
            throw std::runtime_error(name + ": the priming event was not published: " + *problem);
        }
        const std::uint32_t primed = receiver.WaitForPrime(
            Clock::now() + std::chrono::duration_cast<Clock::duration>(settings.drain_timeout),
            stop);
        if (stop.load()) break;
        if (primed < endpoints)
            throw std::runtime_error(PrimeFailure(settings, name, primed, endpoints));
        if (progress) {
            progress("setup: " + name + ": " + std::to_string(endpoints) +
                     (endpoints == 1 ? " endpoint" : " endpoints") + " subscribed to " +
                     types.pattern + " and primed in " + Seconds(Clock::now() - setup_started));
            char rate[48];
            std::snprintf(rate, sizeof rate, "%g events/s", settings.rate_per_second);
            progress("publishing " + name + " (" + publisher.Describe() + ", " +
                     std::to_string(settings.publishers) + " publishers) " +
                     (settings.rate_per_second > 0 ? std::string("at ") + rate
                                                   : std::string("unpaced")) +
                     " for " + FormatDuration(settings.duration));
        }

        std::optional<CpuWindow> cpu;
        if (!settings.cpu_processes.empty())
            cpu.emplace(settings.cpu_processes, Clock::duration(0));
        const PublishOutcome published =
            PublishLoad(settings, publisher, receiver, types.load, run, capacity, stop);
        if (published.first_failure && progress) {
            progress(name + ": " + std::to_string(published.failures) +
                     " publishes failed; the first: " + *published.first_failure);
        }
        if (progress && !stop.load()) {
            progress("waiting up to " + FormatDuration(settings.drain_timeout) +
                     " for every delivery of " + name);
        }
        const bool all_arrived = receiver.WaitForAll(
            Clock::now() + std::chrono::duration_cast<Clock::duration>(settings.drain_timeout),
            stop);
        std::optional<CpuUsage> cpu_usage;
        if (cpu) cpu_usage = cpu->Finish();
        const DeliveryBook book = receiver.Finish();

        WebhookSummaryRow row = SummarizeWebhookScenario(
            name, book, settings.rate_per_second,
            std::chrono::duration<double>(published.elapsed).count(), published.failures);
        row.drained = all_arrived;
        row.interrupted = stop.load();
        row.cpu = std::move(cpu_usage);
        row.attributes = {
            {"endpoints", std::to_string(endpoints) + " x " + receiver.BaseUrl() + "/hooks/" + run +
                              "/" + name + "/<0.." + std::to_string(endpoints - 1) + ">"},
            {"event type", types.load},
            {"max_in_flight", settings.max_in_flight ? std::to_string(*settings.max_in_flight)
                                                     : std::string("service default")}};
        report.rows.push_back(std::move(row));
        if (stop.load()) break;
    }
    report.receiver = receiver.counters();
    return report;
}

}  // namespace bench
