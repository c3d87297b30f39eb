#include "bench/engine.hpp"

#include <gtest/gtest.h>

// <utility> before Asio: Boost 1.74's awaitable header uses std::exchange without including it.
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "bench/request_template.hpp"

namespace bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;
using namespace std::chrono_literals;

// A small HTTP/1.1 server on 127.0.0.1 and an ephemeral port, answering by path:
//   /ok 200 with Content-Length     /chunked 200, chunked      /missing 404
//   /close 200 with Connection: close                          /slow 200 after 300 ms
//   /hang never answers             /drop closes without answering
// It keeps the bodies it receives so tests can check what went over the wire.
class TestServer {
  public:
    TestServer() : acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
        net::co_spawn(io_, Accept(), net::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~TestServer() {
        io_.stop();
        thread_.join();
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::uint64_t requests() const { return requests_.load(); }
    std::uint64_t connections() const { return connections_.load(); }
    std::vector<std::string> bodies() const {
        std::lock_guard lock(mutex_);
        return bodies_;
    }

  private:
    awaitable<void> Accept() {
        for (;;) {
            boost::system::error_code error;
            tcp::socket socket =
                co_await acceptor_.async_accept(net::redirect_error(use_awaitable, error));
            if (error) co_return;
            ++connections_;
            net::co_spawn(io_, Serve(std::move(socket)), net::detached);
        }
    }

    awaitable<void> Serve(tcp::socket socket) {
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buffer;
        boost::system::error_code error;
        net::steady_timer timer(io_);
        for (;;) {
            bhttp::request<bhttp::string_body> request;
            co_await bhttp::async_read(stream, buffer, request,
                                       net::redirect_error(use_awaitable, error));
            if (error) break;
            ++requests_;
            {
                std::lock_guard lock(mutex_);
                bodies_.push_back(request.body());
            }
            const std::string target(request.target());
            if (target == "/drop") break;
            if (target == "/slow" || target == "/hang") {
                timer.expires_after(target == "/slow" ? std::chrono::milliseconds(300)
                                                      : std::chrono::hours(1));
                co_await timer.async_wait(net::redirect_error(use_awaitable, error));
            }
            bhttp::response<bhttp::string_body> response{bhttp::status::ok, 11};
            response.body() = R"({"ok":true})";
            if (target == "/missing") response.result(bhttp::status::not_found);
            const bool close = target == "/close" || !request.keep_alive();
            response.keep_alive(!close);
            if (target == "/chunked") {
                response.chunked(true);
            } else {
                response.prepare_payload();
            }
            co_await bhttp::async_write(stream, response,
                                        net::redirect_error(use_awaitable, error));
            if (error || close) break;
        }
        stream.socket().shutdown(tcp::socket::shutdown_send, error);
    }

    net::io_context io_;
    tcp::acceptor acceptor_;
    std::thread thread_;
    std::atomic<std::uint64_t> requests_{0};
    std::atomic<std::uint64_t> connections_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> bodies_;
};

LoadSettings QuickSettings() {
    LoadSettings settings;
    settings.connections = 4;
    settings.duration = 300ms;
    settings.warmup = 0s;
    settings.request_timeout = 2s;
    return settings;
}

Workload Get(std::uint16_t port, std::string target) {
    Workload workload;
    workload.label = target;
    workload.endpoint = {"127.0.0.1", port};
    workload.make_request = [target](std::uint64_t) { return HttpRequest{"GET", target, {}, ""}; };
    return workload;
}

std::uint64_t TransportErrors(const LoadResult& result, TransportError kind) {
    return result.transport_errors[static_cast<std::size_t>(kind)];
}

void ExpectBalanced(const LoadResult& result) {
    EXPECT_EQ(result.sent, result.completed + result.transport_error_total());
    EXPECT_EQ(result.latency.count(), result.completed);
    std::uint64_t by_status = 0;
    for (const auto& [status, count] : result.status_counts) by_status += count;
    EXPECT_EQ(by_status, result.completed);
}

TEST(RunLoad, ClosedModelReusesKeepAliveConnections) {
    TestServer server;
    LoadResult result = RunLoad(QuickSettings(), Get(server.port(), "/ok"));
    ExpectBalanced(result);
    EXPECT_GT(result.completed, 20u);
    EXPECT_EQ(result.ok, result.completed);
    EXPECT_EQ(result.status_counts.at(200), result.completed);
    EXPECT_EQ(result.errors(), 0u);
    EXPECT_EQ(result.connections_opened, 4u);
    EXPECT_EQ(server.connections(), 4u + 1u);  // plus the preflight connection
    EXPECT_EQ(result.measured, 300ms);
    EXPECT_FALSE(result.interrupted);
    EXPECT_GT(result.latency.max_micros(), 0u);
}

TEST(RunLoad, ReadsChunkedResponses) {
    TestServer server;
    LoadResult result = RunLoad(QuickSettings(), Get(server.port(), "/chunked"));
    ExpectBalanced(result);
    EXPECT_GT(result.ok, 20u);
    EXPECT_EQ(result.ok, result.completed);
    EXPECT_EQ(TransportErrors(result, TransportError::kProtocol), 0u);
    EXPECT_EQ(result.connections_opened, 4u);
}

TEST(RunLoad, CountsNon2xxAsErrorsByStatus) {
    TestServer server;
    LoadResult result = RunLoad(QuickSettings(), Get(server.port(), "/missing"));
    ExpectBalanced(result);
    EXPECT_GT(result.completed, 20u);
    EXPECT_EQ(result.ok, 0u);
    EXPECT_EQ(result.http_errors.at(404), result.completed);
    EXPECT_EQ(result.errors(), result.completed);
}

TEST(RunLoad, ReconnectsWhenTheServerClosesAfterAResponse) {
    TestServer server;
    LoadResult result = RunLoad(QuickSettings(), Get(server.port(), "/close"));
    ExpectBalanced(result);
    EXPECT_GT(result.ok, 10u);
    EXPECT_EQ(result.ok, result.completed);
    EXPECT_GE(result.connections_opened, result.completed);
}

TEST(RunLoad, CountsTimeoutsAndEndsByTheDeadline) {
    TestServer server;
    LoadSettings settings = QuickSettings();
    settings.connections = 2;
    settings.request_timeout = 100ms;
    // Returning at all is the point: a load that waited on the hanging server would run into
    // ctest's timeout. No wall-clock bound here; the machines are shared and noisy.
    LoadResult result = RunLoad(settings, Get(server.port(), "/hang"));
    ExpectBalanced(result);
    EXPECT_EQ(result.completed, 0u);
    EXPECT_GE(TransportErrors(result, TransportError::kTimeout), 1u);
    EXPECT_EQ(TransportErrors(result, TransportError::kTimeout), result.sent);
}

TEST(RunLoad, CountsConnectionsClosedWithoutAResponse) {
    TestServer server;
    LoadResult result = RunLoad(QuickSettings(), Get(server.port(), "/drop"));
    ExpectBalanced(result);
    EXPECT_EQ(result.completed, 0u);
    EXPECT_GT(TransportErrors(result, TransportError::kClosed), 10u);
    EXPECT_EQ(TransportErrors(result, TransportError::kClosed), result.sent);
}

TEST(RunLoad, ThrowsWhenTheTargetIsUnreachable) {
    std::uint16_t port = 0;
    {
        net::io_context io;
        tcp::acceptor probe(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        port = probe.local_endpoint().port();
    }  // closed again: nothing listens on `port` now
    EXPECT_THROW(RunLoad(QuickSettings(), Get(port, "/ok")), TargetUnreachableError);
}

TEST(RunLoad, OpenModelOffersExactlyTheScheduledRequests) {
    TestServer server;
    LoadSettings settings = QuickSettings();
    settings.rate_per_second = 200;
    settings.duration = 500ms;
    LoadResult result = RunLoad(settings, Get(server.port(), "/ok"));
    ExpectBalanced(result);
    EXPECT_EQ(result.offered, 100u);  // due at 0, 5, ..., 495 ms
    // How many find a free connection depends on how busy the machine is; every one of the
    // 100 is either sent or counted as dropped, and each sent one is answered.
    EXPECT_EQ(result.sent + result.dropped, 100u);
    EXPECT_GT(result.sent, 0u);
    EXPECT_EQ(result.ok, result.sent);
}

TEST(RunLoad, OpenModelDropsRequestsDueWhileEveryConnectionIsBusy) {
    TestServer server;
    LoadSettings settings = QuickSettings();
    settings.connections = 1;
    settings.rate_per_second = 50;
    settings.duration = 500ms;
    LoadResult result = RunLoad(settings, Get(server.port(), "/slow"));
    ExpectBalanced(result);
    EXPECT_EQ(result.offered, 25u);
    EXPECT_EQ(result.sent + result.dropped, result.offered);
    EXPECT_LE(result.sent, 3u);
    EXPECT_GE(result.dropped, 22u);
    EXPECT_GE(result.latency.min_micros(), 300'000u);
}

TEST(RunLoad, OpenModelMeasuresFromTheScheduledTime) {
    TestServer server;
    LoadSettings settings = QuickSettings();
    settings.connections = 2;
    settings.rate_per_second = 20;
    settings.duration = 500ms;
    LoadResult result = RunLoad(settings, Get(server.port(), "/slow"));
    ExpectBalanced(result);
    EXPECT_EQ(result.offered, 10u);
    EXPECT_GE(result.ok, 1u);
    EXPECT_GE(result.latency.min_micros(), 300'000u);
}

TEST(RunLoad, OpenModelSplitsOneScheduleOverThreads) {
    TestServer server;
    LoadSettings settings = QuickSettings();
    settings.threads = 2;
    settings.rate_per_second = 400;
    settings.duration = 500ms;
    LoadResult result = RunLoad(settings, Get(server.port(), "/ok"));
    ExpectBalanced(result);
    EXPECT_EQ(result.settings.threads, 2u);
    EXPECT_EQ(result.offered, 200u);
    EXPECT_EQ(result.sent + result.dropped, 200u);
    EXPECT_GT(result.ok, 0u);
}

// Sends `signal` to this process after each delay, from another thread, while a load runs.
class SignalLater {
  public:
    SignalLater(int signal, std::vector<std::chrono::milliseconds> delays)
        : thread_([signal, delays] {
              for (auto delay : delays) {
                  std::this_thread::sleep_for(delay);
                  std::raise(signal);
              }
          }) {}
    ~SignalLater() { thread_.join(); }

  private:
    std::thread thread_;
};

TEST(RunLoad, FirstSignalEndsTheLoadEarlyWithWhatWasMeasured) {
    TestServer server;
    LoadSettings settings = QuickSettings();
    settings.duration = 30s;
    LoadResult result;
    {
        SignalLater interrupt(SIGINT, {300ms});
        result = RunLoad(settings, Get(server.port(), "/ok"));
    }
    ExpectBalanced(result);
    EXPECT_TRUE(result.interrupted);
    EXPECT_GE(result.measured, 250ms);              // the signal came after a 300 ms sleep
    EXPECT_LT(result.measured, settings.duration);  // ...and ended the load early
    EXPECT_GT(result.ok, 0u);
}

TEST(RunLoad, SecondSignalAbandonsRequestsInFlightAsTimeouts) {
    TestServer server;
    LoadSettings settings = QuickSettings();
    settings.connections = 3;
    settings.duration = 30s;
    settings.request_timeout = 60s;
    LoadResult result;
    {
        SignalLater interrupt(SIGTERM, {200ms, 200ms});
        result = RunLoad(settings, Get(server.port(), "/hang"));
    }
    ExpectBalanced(result);
    EXPECT_TRUE(result.interrupted);
    EXPECT_EQ(result.sent, 3u);
    EXPECT_EQ(TransportErrors(result, TransportError::kTimeout), 3u);
}

TEST(RunLoad, LeavesTheWarmupOutOfTheCounts) {
    TestServer server;
    LoadSettings settings = QuickSettings();
    settings.connections = 2;
    settings.warmup = 300ms;
    LoadResult result = RunLoad(settings, Get(server.port(), "/ok"));
    ExpectBalanced(result);
    EXPECT_EQ(result.measured, 300ms);
    // What the measured window completed depends on the machine's load (a sanitizer build on a
    // busy machine may complete none); the warm-up's requests reaching the server uncounted is
    // the behaviour under test.
    EXPECT_GT(server.requests(), result.sent);
}

TEST(RunLoad, SendsAFreshUniqueIdInEveryRequest) {
    TestServer server;
    auto request = RequestTemplate::Parse("POST", "/ok", {"Idempotency-Key: {{unique}}"},
                                          R"({"id":"txn_{{unique}}","n":{{seq}}})");
    ASSERT_TRUE(request.ok());
    TemplateRun run = MakeTemplateRun(1);
    Workload workload = Get(server.port(), "/ok");
    workload.make_request = [&](std::uint64_t seq) { return request.value().Make(run, seq); };
    LoadSettings settings = QuickSettings();
    settings.threads = 2;
    LoadResult result = RunLoad(settings, workload);
    ExpectBalanced(result);
    std::vector<std::string> bodies = server.bodies();
    ASSERT_GT(bodies.size(), 20u);
    std::set<std::string> distinct(bodies.begin(), bodies.end());
    EXPECT_EQ(distinct.size(), bodies.size());
    for (const std::string& body : bodies) {
        EXPECT_EQ(body.rfind(R"({"id":"txn_)" + run.unique_prefix, 0), 0u) << body;
    }
}

TEST(RunLoad, SplitsConnectionsOverThreadsButNeverMoreThreadsThanConnections) {
    TestServer server;
    LoadSettings settings = QuickSettings();
    settings.connections = 3;
    settings.threads = 8;
    LoadResult result = RunLoad(settings, Get(server.port(), "/ok"));
    ExpectBalanced(result);
    EXPECT_EQ(result.settings.threads, 3u);
    EXPECT_EQ(result.connections_opened, 3u);
    EXPECT_GT(result.ok, 20u);
}

TEST(RunLoad, AppliesTheScenarioClassifier) {
    TestServer server;
    Workload workload = Get(server.port(), "/ok");
    workload.classify = [](const HttpRequest&, const HttpResponse& response) {
        return response.body == R"({"ok":true})" ? Verdict::kUnexpected : Verdict::kOk;
    };
    LoadResult result = RunLoad(QuickSettings(), workload);
    ExpectBalanced(result);
    EXPECT_GT(result.completed, 0u);
    EXPECT_EQ(result.ok, 0u);
    EXPECT_EQ(result.unexpected, result.completed);
    EXPECT_TRUE(result.http_errors.empty());
}

TEST(RunLoad, RethrowsWhatTheRequestSourceThrows) {
    TestServer server;
    Workload workload = Get(server.port(), "/ok");
    workload.make_request = [](std::uint64_t seq) -> HttpRequest {
        if (seq == 10) throw std::runtime_error("no more accounts");
        return HttpRequest{"GET", "/ok", {}, ""};
    };
    EXPECT_THROW(RunLoad(QuickSettings(), workload), std::runtime_error);
}

}  // namespace
}  // namespace bench
