#include "commons/http/client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "commons/blocking_pool.hpp"
#include "commons/http/client_json.hpp"
#include "commons/http/router.hpp"
#include "commons/http/server.hpp"
#include "commons/log.hpp"
#include "support/gate.hpp"
#include "support/process.hpp"

namespace commons::http {
namespace {

using namespace std::chrono_literals;
using Kind = ClientError::Kind;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

using test_support::Gate;

// The ClientError `request` fails with, or nullopt when it succeeds.
std::optional<ClientError> ErrorOf(HttpClient& client, const ClientRequest& request) {
    try {
        client.Send(request);
    } catch (const ClientError& error) {
        return error;
    }
    return std::nullopt;
}

std::string KindName(const std::optional<ClientError>& error) {
    return error ? std::string(ClientErrorKindName(error->kind())) : "no error";
}

// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
std::uint16_t UnusedPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        throw std::runtime_error("bind failed");
    }
    socklen_t length = sizeof(address);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

class ClientTest : public ::testing::Test {
  protected:
    void SetUp() override {
        router_.Add(Method::kGet, "/hello", [this](Request&) {
            ++hello_calls_;
            return Response::Text(200, "hello", "text/plain");
        });
        auto echo = [](Request& request) {
            nlohmann::json headers = nlohmann::json::object();
            for (const auto& [name, value] : request.headers) headers[name] = value;
            return Response::Json(200, nlohmann::json{{"method", MethodName(request.method)},
                                                      {"target", request.target},
                                                      {"body", request.body},
                                                      {"headers", headers}}
                                           .dump());
        };
        for (auto method : {Method::kGet, Method::kPost, Method::kPut, Method::kDelete}) {
            router_.Add(method, "/echo", echo);
        }
        auto flaky = [this](Request&) {
            if (++flaky_calls_ <= flaky_failures_) {
                Response response = Response::Json(503, R"({"error":"busy"})");
                if (retry_after_seconds_ >= 0) {
                    response.SetHeader("Retry-After", std::to_string(retry_after_seconds_));
                }
                return response;
            }
            return Response::Text(200, "recovered", "text/plain");
        };
        router_.Add(Method::kGet, "/flaky", flaky);
        router_.Add(Method::kPost, "/flaky", flaky);
        router_.Add(Method::kGet, "/gate", [this](Request&) {
            int inside = ++inside_gate_;
            int seen = inside_gate_max_;
            while (inside > seen && !inside_gate_max_.compare_exchange_weak(seen, inside)) {
            }
            gate_.Wait();
            --inside_gate_;
            return Response::Text(200, "released", "text/plain");
        });
        router_.Add(Method::kGet, "/big", [this](Request&) {
            return Response::Text(200, std::string(big_bytes_, 'x'), "text/plain");
        });
        router_.Add(Method::kGet, "/redirect", [](Request&) {
            Response response = Response::Text(302, "", "text/plain");
            response.SetHeader("Location", "/hello");
            return response;
        });
        StartServer();
    }

    void StartServer(ServerSettings settings = {}) {
        if (server_) server_->Stop();
        settings.address = "127.0.0.1";
        settings.port = 0;
        pool_ = std::make_unique<BlockingPool>(8, 64);
        server_ =
            std::make_unique<Server>(settings, router_, std::vector<Middleware>{}, *pool_, logger_);
        port_ = server_->Start();
    }

    void TearDown() override {
        gate_.Open();
        client_.reset();
        if (server_) server_->Stop();
    }

    // Fast backoff so retry tests take milliseconds.
    static ClientSettings FastSettings() {
        ClientSettings settings;
        settings.backoff_initial = 1ms;
        settings.backoff_max = 20ms;
        return settings;
    }

    HttpClient& MakeClient(ClientSettings settings = FastSettings()) {
        client_ = std::make_unique<HttpClient>(std::move(settings), logger_);
        return *client_;
    }

    std::string UrlFor(const std::string& target) const {
        return "http://127.0.0.1:" + std::to_string(port_) + target;
    }

    ClientRequest Get(const std::string& target) const {
        ClientRequest request;
        request.method = Method::kGet;
        request.url = UrlFor(target);
        return request;
    }

    ClientRequest Post(const std::string& target, std::string body) const {
        ClientRequest request = Get(target);
        request.method = Method::kPost;
        request.body = std::move(body);
        return request;
    }

    Router router_;
    Logger logger_{"test", stderr, LogLevel::kError};
    std::unique_ptr<BlockingPool> pool_;
    std::unique_ptr<Server> server_;
    std::uint16_t port_ = 0;
    std::unique_ptr<HttpClient> client_;
    Gate gate_;
    std::atomic<int> hello_calls_{0};
    std::atomic<int> flaky_calls_{0};
    std::atomic<int> flaky_failures_{0};
    std::atomic<int> retry_after_seconds_{-1};
    std::atomic<int> inside_gate_{0};
    std::atomic<int> inside_gate_max_{0};
    std::atomic<std::size_t> big_bytes_{0};
};

TEST_F(ClientTest, GetReturnsStatusHeadersAndBody) {
    auto& client = MakeClient();
    auto response = client.Send(Get("/hello"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hello");
    EXPECT_EQ(response.Header("Content-Type"), "text/plain");
    EXPECT_EQ(response.attempts, 1);
    EXPECT_FALSE(response.body_truncated);
}

TEST_F(ClientTest, PostSendsBodyHeadersHostUserAgentAndContentLength) {
    auto& client = MakeClient();
    auto request = Post("/echo?x=1", "payload-bytes");
    request.headers = {{"X-Custom", "value 1"}, {"Content-Length", "999"}, {"Host", "evil"}};
    auto response = client.Send(request);
    ASSERT_EQ(response.status, 200);
    auto echoed = nlohmann::json::parse(response.body);
    EXPECT_EQ(echoed["method"], "POST");
    EXPECT_EQ(echoed["target"], "/echo?x=1");
    EXPECT_EQ(echoed["body"], "payload-bytes");
    auto headers = echoed["headers"];
    EXPECT_EQ(headers["x-custom"], "value 1");
    // The client owns framing headers: a caller's Content-Length or Host is ignored.
    EXPECT_EQ(headers["content-length"], "13");
    EXPECT_EQ(headers["host"], "127.0.0.1:" + std::to_string(port_));
    EXPECT_EQ(headers["user-agent"], "payments-platform");
}

TEST_F(ClientTest, CallerUserAgentWins) {
    auto& client = MakeClient();
    auto request = Get("/echo");
    request.headers = {{"User-Agent", "payctl/1"}};
    auto echoed = ParseJsonBody(client.Send(request));
    EXPECT_EQ(echoed["headers"]["user-agent"], "payctl/1");
}

TEST_F(ClientTest, ReusesOneKeepAliveConnectionForSequentialRequests) {
    auto& client = MakeClient();
    for (int i = 0; i < 5; ++i) {
        auto response = client.Send(Get("/hello"));
        EXPECT_EQ(response.status, 200);
        EXPECT_EQ(server_->open_connections(), 1u) << "request " << i;
    }
    EXPECT_EQ(client.stats().connections_open, 1u);
    EXPECT_EQ(client.stats().connections_idle, 1u);
    EXPECT_EQ(hello_calls_, 5);
}

TEST_F(ClientTest, ClosesConnectionsIdleLongerThanTheTimeout) {
    auto settings = FastSettings();
    settings.idle_connection_timeout = 50ms;
    auto& client = MakeClient(settings);
    EXPECT_EQ(client.Send(Get("/hello")).status, 200);
    EXPECT_TRUE(test_support::PollUntil(10s, [&] { return client.stats().connections_open == 0; }));
    EXPECT_TRUE(test_support::PollUntil(10s, [&] { return server_->open_connections() == 0; }));
    EXPECT_EQ(client.Send(Get("/hello")).status, 200);
}

TEST_F(ClientTest, ManyThreadsShareTheClientAndEachGetsItsOwnResponse) {
    auto settings = FastSettings();
    settings.connections_per_host_max = 3;
    auto& client = MakeClient(settings);
    constexpr int kThreads = 8;
    constexpr int kRequestsPerThread = 25;
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kRequestsPerThread; ++i) {
                std::string body = "thread " + std::to_string(t) + " request " + std::to_string(i);
                auto response = client.Send(Post("/echo", body));
                if (response.status != 200 ||
                    nlohmann::json::parse(response.body)["body"] != body) {
                    ++mismatches;
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(mismatches, 0);
    EXPECT_LE(client.stats().connections_open, 3u);
    EXPECT_EQ(client.stats().requests_in_flight, 0u);
    EXPECT_EQ(client.stats().requests_waiting, 0u);
}

TEST_F(ClientTest, ThirdConcurrentRequestWaitsForOneOfTwoConnectionsAndThenSucceeds) {
    auto settings = FastSettings();
    settings.connections_per_host_max = 2;
    auto& client = MakeClient(settings);
    std::vector<std::future<ClientResponse>> calls;
    for (int i = 0; i < 3; ++i) {
        calls.push_back(std::async(std::launch::async, [&] { return client.Send(Get("/gate")); }));
    }
    ASSERT_TRUE(gate_.WaitForWaiters(2));
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return client.stats().requests_waiting == 1; }));
    EXPECT_EQ(client.stats().connections_open, 2u);
    EXPECT_EQ(server_->open_connections(), 2u);
    gate_.Open();
    for (auto& call : calls) {
        auto response = call.get();
        EXPECT_EQ(response.status, 200);
        EXPECT_EQ(response.body, "released");
    }
    // The server could run all three at once; the client never let it.
    EXPECT_EQ(inside_gate_max_, 2);
    EXPECT_EQ(client.stats().requests_waiting, 0u);
    EXPECT_LE(server_->open_connections(), 2u);
}

TEST_F(ClientTest, WaitingForAConnectionSlotIsBoundedByTheDeadline) {
    auto settings = FastSettings();
    settings.connections_per_host_max = 1;
    auto& client = MakeClient(settings);
    auto blocked = std::async(std::launch::async, [&] { return client.Send(Get("/gate")); });
    ASSERT_TRUE(gate_.WaitForWaiters(1));
    auto request = Get("/hello");
    request.deadline = std::chrono::steady_clock::now() + 100ms;
    auto error = ErrorOf(client, request);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kTimeout) << error->what();
    EXPECT_EQ(hello_calls_, 0);
    gate_.Open();
    EXPECT_EQ(blocked.get().status, 200);
}

TEST_F(ClientTest, RetriesGetOn503ThenSucceeds) {
    flaky_failures_ = 1;
    auto& client = MakeClient();
    auto response = client.Send(Get("/flaky"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "recovered");
    EXPECT_EQ(response.attempts, 2);
    EXPECT_EQ(flaky_calls_, 2);
}

TEST_F(ClientTest, DoesNotRetryPostWithoutIdempotencyKeyOn503) {
    flaky_failures_ = 1;
    auto& client = MakeClient();
    auto response = client.Send(Post("/flaky", "{}"));
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.attempts, 1);
    EXPECT_EQ(flaky_calls_, 1);
}

TEST_F(ClientTest, RetriesPostWithIdempotencyKeyOn503) {
    flaky_failures_ = 1;
    auto& client = MakeClient();
    auto request = Post("/flaky", "{}");
    request.headers = {{"Idempotency-Key", "key_12345678"}};
    auto response = client.Send(request);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.attempts, 2);
    EXPECT_EQ(flaky_calls_, 2);
}

TEST_F(ClientTest, RetriesPostWhenPolicyIsAlways) {
    flaky_failures_ = 1;
    auto& client = MakeClient();
    auto request = Post("/flaky", "{}");
    request.retry = RetryPolicy::kAlways;
    EXPECT_EQ(client.Send(request).status, 200);
    EXPECT_EQ(flaky_calls_, 2);
}

TEST_F(ClientTest, DoesNotRetryGetWhenPolicyIsNever) {
    flaky_failures_ = 1;
    auto& client = MakeClient();
    auto request = Get("/flaky");
    request.retry = RetryPolicy::kNever;
    auto response = client.Send(request);
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.attempts, 1);
    EXPECT_EQ(flaky_calls_, 1);
}

TEST_F(ClientTest, ReturnsTheLastRetryableResponseWhenAttemptsRunOut) {
    flaky_failures_ = 1000;
    auto& client = MakeClient();
    auto response = client.Send(Get("/flaky"));
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.attempts, 3);
    EXPECT_EQ(flaky_calls_, 3);
}

TEST_F(ClientTest, RetryAfterIsCappedAtBackoffMax) {
    flaky_failures_ = 1;
    retry_after_seconds_ = 3600;
    auto& client = MakeClient();  // backoff_max 20 ms
    auto request = Get("/flaky");
    // Uncapped, an hour's wait would not fit before the deadline and the 503 would come back.
    request.deadline = std::chrono::steady_clock::now() + 30s;
    auto response = client.Send(request);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.attempts, 2);
}

TEST_F(ClientTest, RetryAfterReplacesTheBackoff) {
    flaky_failures_ = 1;
    retry_after_seconds_ = 0;
    auto settings = FastSettings();
    settings.backoff_initial = 1000h;
    settings.backoff_max = 1000h;
    auto& client = MakeClient(settings);
    auto request = Get("/flaky");
    // A jittered backoff of up to 1000 h would almost surely miss this deadline; Retry-After: 0
    // retries at once.
    request.deadline = std::chrono::steady_clock::now() + 30s;
    auto response = client.Send(request);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.attempts, 2);
}

TEST_F(ClientTest, DoesNotSleepPastTheDeadline) {
    flaky_failures_ = 1;
    auto settings = FastSettings();
    settings.backoff_initial = 1000h;
    settings.backoff_max = 1000h;
    auto& client = MakeClient(settings);
    auto request = Get("/flaky");
    request.deadline = std::chrono::steady_clock::now() + 2s;
    // The backoff is uniform in [0, 1000 h]; the chance it fits into 2 s is about 6e-7.
    auto response = client.Send(request);
    EXPECT_EQ(response.status, 503);
    EXPECT_EQ(response.attempts, 1);
}

TEST_F(ClientTest, HandlerThatDoesNotAnswerInTimeIsTimeout) {
    auto settings = FastSettings();
    settings.request_timeout = 200ms;
    auto& client = MakeClient(settings);
    auto request = Get("/gate");
    request.retry = RetryPolicy::kNever;
    auto error = ErrorOf(client, request);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kTimeout) << error->what();
    EXPECT_EQ(error->attempts(), 1);
}

TEST_F(ClientTest, OverallDeadlineBoundsTheCall) {
    auto& client = MakeClient();  // request_timeout 15 s
    auto request = Get("/gate");
    request.deadline = std::chrono::steady_clock::now() + 200ms;
    auto error = ErrorOf(client, request);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kTimeout) << error->what();
}

TEST_F(ClientTest, ConnectionRefusedIsConnectErrorAfterRetries) {
    auto& client = MakeClient();
    auto request = Get("/hello");
    request.url = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/hello";
    auto error = ErrorOf(client, request);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kConnect) << error->what();
    EXPECT_EQ(error->attempts(), 3);
    request.retry = RetryPolicy::kNever;
    error = ErrorOf(client, request);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kConnect);
    EXPECT_EQ(error->attempts(), 1);
}

TEST_F(ClientTest, UnknownHostIsResolveError) {
    auto settings = FastSettings();
    // Generous, so a slow resolver still answers "no such host" instead of timing out.
    settings.connect_timeout = 60s;
    settings.request_timeout = 60s;
    auto& client = MakeClient(settings);
    auto request = Get("/");
    request.url = "http://does-not-exist.invalid/";
    request.retry = RetryPolicy::kNever;
    auto error = ErrorOf(client, request);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kResolve) << error->what();
}

TEST_F(ClientTest, BodyOverTheCapIsBodyTooLarge) {
    auto settings = FastSettings();
    settings.response_body_bytes_max = 1000;
    auto& client = MakeClient(settings);
    big_bytes_ = 1001;
    auto error = ErrorOf(client, Get("/big"));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kBodyTooLarge) << error->what();
    big_bytes_ = 1000;
    auto response = client.Send(Get("/big"));
    EXPECT_EQ(response.body.size(), 1000u);
    EXPECT_FALSE(response.body_truncated);
}

TEST_F(ClientTest, TruncatesBodyOverTheCapWhenAsked) {
    auto settings = FastSettings();
    settings.response_body_bytes_max = 1000;
    auto& client = MakeClient(settings);
    big_bytes_ = 50'000;
    auto request = Get("/big");
    request.oversized_body = OversizedBody::kTruncate;
    auto response = client.Send(request);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, std::string(1000, 'x'));
    EXPECT_TRUE(response.body_truncated);
    // The rest of that body is still on its connection, so it was closed, not pooled.
    EXPECT_EQ(client.stats().connections_open, 0u);
    EXPECT_EQ(client.Send(Get("/hello")).body, "hello");
}

TEST_F(ClientTest, ReturnsRedirectWithoutFollowingIt) {
    auto& client = MakeClient();
    auto response = client.Send(Get("/redirect"));
    EXPECT_EQ(response.status, 302);
    EXPECT_EQ(response.Header("Location"), "/hello");
    EXPECT_EQ(response.attempts, 1);
    EXPECT_EQ(hello_calls_, 0);
}

TEST_F(ClientTest, PropagatesTheCurrentRequestId) {
    auto& client = MakeClient();
    ClientResponse response;
    {
        ScopedRequestId scope("req_client_test_1");
        response = client.Send(Get("/echo"));
    }
    EXPECT_EQ(ParseJsonBody(response)["headers"]["x-request-id"], "req_client_test_1");
    // Outside a scope there is none to add.
    EXPECT_FALSE(ParseJsonBody(client.Send(Get("/echo")))["headers"].contains("x-request-id"));
}

TEST_F(ClientTest, KeepsAnExplicitRequestId) {
    auto& client = MakeClient();
    ScopedRequestId scope("req_from_scope");
    auto request = Get("/echo");
    request.headers = {{"X-Request-Id", "req_explicit"}};
    EXPECT_EQ(ParseJsonBody(client.Send(request))["headers"]["x-request-id"], "req_explicit");
}

TEST_F(ClientTest, PublicOnlyPolicyRefusesLoopbackAfterResolution) {
    auto settings = FastSettings();
    settings.address_policy = AddressPolicy::kPublicOnly;
    auto& client = MakeClient(settings);
    const std::string port = std::to_string(port_);
    for (const std::string& url :
         {"http://127.0.0.1:" + port + "/hello", "http://localhost:" + port + "/hello",
          "http://[::ffff:127.0.0.1]:" + port + "/hello", "http://2130706433:" + port + "/hello"}) {
        auto request = Get("/hello");
        request.url = url;
        auto error = ErrorOf(client, request);
        ASSERT_TRUE(error) << url;
        EXPECT_EQ(error->kind(), Kind::kForbiddenAddress) << url << ": " << KindName(error);
        EXPECT_EQ(error->attempts(), 1) << url;  // refused, not retried
    }
    EXPECT_EQ(hello_calls_, 0);
    EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(ClientTest, MalformedUrlIsInvalidUrlError) {
    auto& client = MakeClient();
    for (const char* url : {"", "127.0.0.1/hello", "ftp://127.0.0.1/", "http://user@host/",
                            "http://host:99999/", "http://host/a b"}) {
        auto request = Get("/");
        request.url = url;
        auto error = ErrorOf(client, request);
        ASSERT_TRUE(error) << url;
        EXPECT_EQ(error->kind(), Kind::kInvalidUrl) << url;
        EXPECT_EQ(error->attempts(), 0);
    }
}

TEST_F(ClientTest, HeaderWithLineBreakIsInvalidRequest) {
    auto& client = MakeClient();
    auto request = Get("/hello");
    request.headers = {{"X-Evil", "a\r\nInjected: yes"}};
    auto error = ErrorOf(client, request);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kInvalidRequest);
    request.headers = {{"Bad Name", "x"}};
    error = ErrorOf(client, request);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kInvalidRequest);
    EXPECT_EQ(hello_calls_, 0);
}

TEST_F(ClientTest, ReplacesAConnectionTheServerClosedWhileIdle) {
    ServerSettings settings;
    settings.idle_timeout = 100ms;
    StartServer(settings);
    auto& client = MakeClient();
    EXPECT_EQ(client.Send(Get("/hello")).status, 200);
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return server_->open_connections() == 0; }));
    // A POST without an idempotency key is never retried, so this only passes when the dead
    // pooled connection is noticed before the request is written.
    auto response = client.Send(Post("/echo", "after idle close"));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.attempts, 1);
}

TEST_F(ClientTest, DestroyingTheClientFailsInFlightCallsWithShuttingDown) {
    auto& client = MakeClient();
    auto in_flight = std::async(std::launch::async, [&] { return ErrorOf(client, Get("/gate")); });
    ASSERT_TRUE(gate_.WaitForWaiters(1));
    client_.reset();
    auto error = in_flight.get();
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kShuttingDown) << error->what();
}

TEST_F(ClientTest, SendAsyncCompletesOnTheIoThreadWithTheResponseOrTheError) {
    auto& client = MakeClient();
    struct Outcome {
        std::optional<ClientResponse> response;
        std::optional<ClientError> error;
        std::thread::id thread;
    };
    auto send = [&](const ClientRequest& request) {
        auto promise = std::make_shared<std::promise<Outcome>>();
        auto future = promise->get_future();
        client.SendAsync(
            request, [promise](std::optional<ClientResponse> response, std::exception_ptr error) {
                Outcome outcome{std::move(response), std::nullopt, std::this_thread::get_id()};
                if (error) {
                    try {
                        std::rethrow_exception(error);
                    } catch (const ClientError& e) {
                        outcome.error = e;
                    }
                }
                promise->set_value(std::move(outcome));
            });
        return future;
    };
    auto ok = send(Post("/echo", "payload")).get();
    ASSERT_TRUE(ok.response);
    EXPECT_FALSE(ok.error);
    EXPECT_EQ(ok.response->status, 200);
    EXPECT_EQ(nlohmann::json::parse(ok.response->body)["body"], "payload");
    EXPECT_NE(ok.thread, std::this_thread::get_id());
    // Many at once, each answered once.
    std::vector<std::future<Outcome>> many;
    for (int i = 0; i < 20; ++i) many.push_back(send(Get("/hello")));
    for (auto& f : many) EXPECT_EQ(f.get().response->body, "hello");
    // A failure arrives as the ClientError Send() would throw.
    auto refused = Get("/hello");
    refused.url = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/hello";
    refused.retry = RetryPolicy::kNever;
    auto failed = send(refused).get();
    EXPECT_FALSE(failed.response);
    ASSERT_TRUE(failed.error);
    EXPECT_EQ(failed.error->kind(), Kind::kConnect);
    // A bad request throws at once and never completes.
    auto bad = Get("/");
    bad.url = "ftp://127.0.0.1/";
    bool completed = false;
    try {
        client.SendAsync(bad, [&](auto, auto) { completed = true; });
        ADD_FAILURE() << "SendAsync accepted an ftp URL";
    } catch (const ClientError& error) {
        EXPECT_EQ(error.kind(), Kind::kInvalidUrl);
    }
    // In flight when the client goes: ends with kShuttingDown during the destruction.
    auto gated = send(Get("/gate"));
    ASSERT_TRUE(gate_.WaitForWaiters(1));
    client_.reset();
    auto shut = gated.get();
    ASSERT_TRUE(shut.error);
    EXPECT_EQ(shut.error->kind(), Kind::kShuttingDown);
    EXPECT_FALSE(completed);
}

TEST_F(ClientTest, JsonHelpersSendAndParseJson) {
    auto& client = MakeClient();
    auto response = client.Send(
        JsonRequest(Method::kPost, UrlFor("/echo"), {{"amount", 1250}, {"currency", "USD"}}));
    auto echoed = ParseJsonBody(response);
    EXPECT_EQ(echoed["headers"]["content-type"], "application/json");
    EXPECT_EQ(echoed["headers"]["accept"], "application/json");
    auto sent = nlohmann::json::parse(echoed["body"].get<std::string>());
    EXPECT_EQ(sent["amount"], 1250);
    EXPECT_EQ(sent["currency"], "USD");
    EXPECT_EQ(ParseJsonBody(client.Send(JsonRequest(Method::kGet, UrlFor("/echo"))))["method"],
              "GET");
}

TEST_F(ClientTest, ParseJsonBodyOfNonJsonIsProtocolErrorWithoutTheBody) {
    auto& client = MakeClient();
    auto response = client.Send(Get("/hello"));
    try {
        ParseJsonBody(response);
        FAIL() << "expected ClientError";
    } catch (const ClientError& error) {
        EXPECT_EQ(error.kind(), Kind::kProtocol);
        EXPECT_EQ(std::string(error.what()).find("hello"), std::string::npos) << error.what();
    }
}

// A peer for what our Server cannot produce: it reads each request with Beast and answers with
// the bytes the script returns, over plain TCP or TLS. nullopt closes without answering.
class TestPeer {
  public:
    struct Reply {
        std::string bytes;
        bool close_after = false;
    };
    // `request_on_connection` counts from 1 on each connection.
    using Script =
        std::function<std::optional<Reply>(int request_on_connection, const std::string& method)>;

    explicit TestPeer(Script script, std::shared_ptr<ssl::context> tls = nullptr)
        : script_(std::move(script)),
          tls_(std::move(tls)),
          acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
        port_ = acceptor_.local_endpoint().port();
        net::co_spawn(io_, Accept(), net::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~TestPeer() {
        io_.stop();
        thread_.join();
    }
    TestPeer(const TestPeer&) = delete;
    TestPeer& operator=(const TestPeer&) = delete;

    std::uint16_t port() const { return port_; }
    int connections() const { return connections_; }
    int requests() const { return requests_; }

  private:
    net::awaitable<void> Accept() {
        for (;;) {
            boost::system::error_code error;
            tcp::socket socket =
                co_await acceptor_.async_accept(net::redirect_error(net::use_awaitable, error));
            if (error) co_return;
            ++connections_;
            if (tls_) {
                net::co_spawn(io_, ServeTls(std::move(socket)), net::detached);
            } else {
                net::co_spawn(io_, ServePlain(std::move(socket)), net::detached);
            }
        }
    }

    net::awaitable<void> ServePlain(tcp::socket socket) { co_await Serve(socket); }

    net::awaitable<void> ServeTls(tcp::socket socket) {
        ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
        boost::system::error_code error;
        co_await stream.async_handshake(ssl::stream_base::server,
                                        net::redirect_error(net::use_awaitable, error));
        if (error) co_return;
        co_await Serve(stream);
    }

    template <typename Stream>
    net::awaitable<void> Serve(Stream& stream) {
        beast::flat_buffer buffer;
        for (int n = 1;; ++n) {
            bhttp::request<bhttp::string_body> request;
            boost::system::error_code error;
            co_await bhttp::async_read(stream, buffer, request,
                                       net::redirect_error(net::use_awaitable, error));
            if (error) co_return;
            ++requests_;
            auto reply = script_(n, std::string(request.method_string()));
            if (!reply) co_return;
            co_await net::async_write(stream, net::buffer(reply->bytes),
                                      net::redirect_error(net::use_awaitable, error));
            if (error || reply->close_after) co_return;
        }
    }

    Script script_;
    std::shared_ptr<ssl::context> tls_;
    net::io_context io_;
    tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::atomic<int> connections_{0};
    std::atomic<int> requests_{0};
    std::thread thread_;
};

const char* const kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

class ClientPeerTest : public ::testing::Test {
  protected:
    HttpClient& MakeClient(ClientSettings settings = {}) {
        settings.backoff_initial = 1ms;
        settings.backoff_max = 20ms;
        client_ = std::make_unique<HttpClient>(std::move(settings), logger_);
        return *client_;
    }
    static ClientRequest Request(Method method, const TestPeer& peer) {
        ClientRequest request;
        request.method = method;
        request.url = "http://127.0.0.1:" + std::to_string(peer.port()) + "/";
        return request;
    }

    Logger logger_{"test", stderr, LogLevel::kError};
    std::unique_ptr<HttpClient> client_;
};

// The peer answers the first request on each connection and closes on the second without
// answering, as a server does when its keep-alive timeout fires as our request arrives.
TestPeer::Script AnswerOnceThenCloseUnanswered() {
    return [](int n, const std::string&) -> std::optional<TestPeer::Reply> {
        if (n == 1) return TestPeer::Reply{kOk};
        return std::nullopt;
    };
}

TEST_F(ClientPeerTest, GetOnAReusedConnectionClosedBeforeAnyResponseByteIsReplayedOnce) {
    TestPeer peer(AnswerOnceThenCloseUnanswered());
    auto& client = MakeClient();
    EXPECT_EQ(client.Send(Request(Method::kGet, peer)).status, 200);
    auto response = client.Send(Request(Method::kGet, peer));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.attempts, 2);
    EXPECT_EQ(peer.connections(), 2);
    EXPECT_EQ(peer.requests(), 3);
}

TEST_F(ClientPeerTest, PostOnAReusedConnectionClosedBeforeAnyResponseByteIsNotReplayed) {
    TestPeer peer(AnswerOnceThenCloseUnanswered());
    auto& client = MakeClient();
    EXPECT_EQ(client.Send(Request(Method::kPost, peer)).status, 200);
    // The peer may have processed it before closing: the outcome is unknown, not retried.
    auto error = ErrorOf(client, Request(Method::kPost, peer));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kConnectionClosed) << error->what();
    EXPECT_EQ(peer.requests(), 2);
}

TEST_F(ClientPeerTest, HeadResponseHasNoBodyAndKeepsTheConnection) {
    TestPeer peer([](int, const std::string& method) -> std::optional<TestPeer::Reply> {
        if (method == "HEAD")
            return TestPeer::Reply{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"};
        return TestPeer::Reply{kOk};
    });
    auto& client = MakeClient();
    auto head = client.Send(Request(Method::kHead, peer));
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.body, "");
    EXPECT_EQ(head.Header("content-length"), "5");
    EXPECT_EQ(client.Send(Request(Method::kGet, peer)).body, "ok");
    EXPECT_EQ(peer.connections(), 1);
}

std::string Chunked(std::size_t bytes) {
    std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (std::size_t sent = 0; sent < bytes; sent += 100) {
        out += "64\r\n" + std::string(100, 'c') + "\r\n";
    }
    return out + "0\r\n\r\n";
}

TEST_F(ClientPeerTest, ChunkedBodyIsCappedWhileItStreams) {
    TestPeer peer([](int, const std::string&) -> std::optional<TestPeer::Reply> {
        return TestPeer::Reply{Chunked(3000)};
    });
    ClientSettings settings;
    settings.response_body_bytes_max = 1000;
    auto& client = MakeClient(settings);
    auto error = ErrorOf(client, Request(Method::kGet, peer));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kBodyTooLarge) << error->what();
    auto request = Request(Method::kGet, peer);
    request.oversized_body = OversizedBody::kTruncate;
    auto response = client.Send(request);
    EXPECT_EQ(response.body, std::string(1000, 'c'));
    EXPECT_TRUE(response.body_truncated);
}

TEST_F(ClientPeerTest, ChunkedBodyUnderTheCapIsRead) {
    TestPeer peer([](int, const std::string&) -> std::optional<TestPeer::Reply> {
        return TestPeer::Reply{Chunked(3000)};
    });
    auto& client = MakeClient();
    EXPECT_EQ(client.Send(Request(Method::kGet, peer)).body, std::string(3000, 'c'));
    EXPECT_EQ(client.Send(Request(Method::kGet, peer)).body.size(), 3000u);
    EXPECT_EQ(peer.connections(), 1);
}

TEST_F(ClientPeerTest, BodyEndingAtConnectionCloseIsRead) {
    TestPeer peer([](int, const std::string&) -> std::optional<TestPeer::Reply> {
        return TestPeer::Reply{"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof", true};
    });
    auto& client = MakeClient();
    EXPECT_EQ(client.Send(Request(Method::kGet, peer)).body, "until eof");
    EXPECT_EQ(client.stats().connections_open, 0u);
}

TEST_F(ClientPeerTest, InterimResponsesAreSkipped) {
    TestPeer peer([](int, const std::string&) -> std::optional<TestPeer::Reply> {
        return TestPeer::Reply{std::string("HTTP/1.1 100 Continue\r\n\r\n") + kOk};
    });
    auto& client = MakeClient();
    auto response = client.Send(Request(Method::kGet, peer));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "ok");
}

TEST_F(ClientPeerTest, HeaderOverTheLimitIsProtocolError) {
    TestPeer peer([](int, const std::string&) -> std::optional<TestPeer::Reply> {
        return TestPeer::Reply{"HTTP/1.1 200 OK\r\nX-Big: " + std::string(4096, 'h') +
                               "\r\nContent-Length: 2\r\n\r\nok"};
    });
    ClientSettings settings;
    settings.response_header_bytes_max = 1024;
    auto& client = MakeClient(settings);
    auto error = ErrorOf(client, Request(Method::kGet, peer));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kProtocol) << error->what();
}

TEST_F(ClientPeerTest, GarbageResponseIsProtocolError) {
    TestPeer peer([](int, const std::string&) -> std::optional<TestPeer::Reply> {
        return TestPeer::Reply{"NOT HTTP AT ALL\r\n\r\n", true};
    });
    auto& client = MakeClient();
    auto error = ErrorOf(client, Request(Method::kGet, peer));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kProtocol) << error->what();
}

// Self-signed certificates made with the openssl CLI once for the suite.
class ClientTlsTest : public ClientPeerTest {
  protected:
    static void SetUpTestSuite() {
        char pattern[] = "/tmp/client_tls_test_XXXXXX";
        if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
        directory_ = pattern;
        MakeCertificate("localhost", "localhost", "DNS:localhost,IP:127.0.0.1");
        MakeCertificate("other", "other.example", "DNS:other.example");
    }
    static void TearDownTestSuite() { std::filesystem::remove_all(directory_); }

    static void MakeCertificate(const std::string& name, const std::string& common_name,
                                const std::string& subject_alt_names) {
        std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
            " -subj /CN=" +
            common_name + " -addext subjectAltName=" + subject_alt_names + " -keyout " +
            Path(name, "key") + " -out " + Path(name, "pem") + " >/dev/null 2>&1";
        if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
    }
    static std::string Path(const std::string& name, const std::string& extension) {
        return directory_ + "/" + name + "." + extension;
    }
    static std::shared_ptr<ssl::context> ServerContext(const std::string& name) {
        auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
        context->use_certificate_chain_file(Path(name, "pem"));
        context->use_private_key_file(Path(name, "key"), ssl::context::pem);
        return context;
    }
    static TestPeer::Script Hello() {
        return [](int, const std::string&) -> std::optional<TestPeer::Reply> {
            return TestPeer::Reply{"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello tls"};
        };
    }
    static ClientRequest Https(const std::string& host, const TestPeer& peer) {
        ClientRequest request;
        request.url = "https://" + host + ":" + std::to_string(peer.port()) + "/";
        request.retry = RetryPolicy::kNever;
        return request;
    }

    static std::string directory_;
};

std::string ClientTlsTest::directory_;

TEST_F(ClientTlsTest, RejectsAnUntrustedSelfSignedCertificate) {
    TestPeer peer(Hello(), ServerContext("localhost"));
    auto& client = MakeClient();  // the system CA store
    auto error = ErrorOf(client, Https("localhost", peer));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kTls) << error->what();
}

TEST_F(ClientTlsTest, TrustsACertificateFromCaFile) {
    TestPeer peer(Hello(), ServerContext("localhost"));
    ClientSettings settings;
    settings.ca_file = Path("localhost", "pem");
    auto& client = MakeClient(settings);
    auto response = client.Send(Https("localhost", peer));
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hello tls");
}

TEST_F(ClientTlsTest, ReusesTheTlsConnection) {
    TestPeer peer(Hello(), ServerContext("localhost"));
    ClientSettings settings;
    settings.ca_file = Path("localhost", "pem");
    auto& client = MakeClient(settings);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(client.Send(Https("localhost", peer)).status, 200);
    EXPECT_EQ(peer.connections(), 1);
}

TEST_F(ClientTlsTest, VerifiesAnIpAddressAgainstTheCertificate) {
    TestPeer peer(Hello(), ServerContext("localhost"));
    ClientSettings settings;
    settings.ca_file = Path("localhost", "pem");
    auto& client = MakeClient(settings);
    EXPECT_EQ(client.Send(Https("127.0.0.1", peer)).status, 200);
}

TEST_F(ClientTlsTest, RejectsACertificateForAnotherHostName) {
    TestPeer peer(Hello(), ServerContext("other"));
    ClientSettings settings;
    settings.ca_file = Path("other", "pem");
    auto& client = MakeClient(settings);
    auto error = ErrorOf(client, Https("localhost", peer));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kTls) << error->what();
    EXPECT_NE(std::string(error->what()).find("mismatch"), std::string::npos) << error->what();
    // Same for an IP address the certificate does not name.
    error = ErrorOf(client, Https("127.0.0.1", peer));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::kTls) << error->what();
}

TEST_F(ClientTlsTest, MissingCaFileFailsConstruction) {
    ClientSettings settings;
    settings.ca_file = directory_ + "/missing.pem";
    EXPECT_THROW(HttpClient(settings, logger_), std::runtime_error);
}

struct UrlCase {
    const char* text;
    bool tls;
    const char* host;
    std::uint16_t port;
    const char* target;
};

TEST(ParseUrl, SplitsSchemeHostPortAndTarget) {
    const UrlCase cases[] = {
        {"http://example.com", false, "example.com", 80, "/"},
        {"https://example.com", true, "example.com", 443, "/"},
        {"HTTPS://API.Example.COM:8443/v1/Things?x=1#frag", true, "api.example.com", 8443,
         "/v1/Things?x=1"},
        {"http://example.com?q=1", false, "example.com", 80, "/?q=1"},
        {"http://127.0.0.1:8080/a/b", false, "127.0.0.1", 8080, "/a/b"},
        {"http://[::1]:9000/x", false, "::1", 9000, "/x"},
        {"https://[2001:DB8::1]/", true, "2001:db8::1", 443, "/"},
        {"http://svc_name.ns.svc.cluster.local:1/", false, "svc_name.ns.svc.cluster.local", 1, "/"},
        {"http://h:65535/", false, "h", 65535, "/"},
    };
    for (const auto& c : cases) {
        auto url = ParseUrl(c.text);
        ASSERT_TRUE(url) << c.text;
        EXPECT_EQ(url->tls, c.tls) << c.text;
        EXPECT_EQ(url->host, c.host) << c.text;
        EXPECT_EQ(url->port, c.port) << c.text;
        EXPECT_EQ(url->target, c.target) << c.text;
    }
}

TEST(ParseUrl, RejectsMalformedUrls) {
    for (const char* text : {
             "",
             "example.com/x",
             "//example.com/",
             "ftp://example.com/",
             "http:/example.com/",
             "http://",
             "http:///path",
             "http://user:secret@example.com/",
             "http://example.com@evil.example/",
             "http://example.com:/",
             "http://example.com:0/",
             "http://example.com:65536/",
             "http://example.com:12a/",
             "http://example.com:123456/",
             "http://[::1/",
             "http://[::1]x/",
             "http://[fe80::1%25eth0]/",
             "http://[not-ipv6]/",
             "http://exa mple.com/",
             "http://example.com/a b",
             "http://example.com/\r\nX: y",
             "http://ex\xc3\xa4mple.com/",
             "http://-example.com/",
             "http://.example.com/",
             "http://exa%6dple.com/",
         }) {
        EXPECT_FALSE(ParseUrl(text)) << text;
    }
}

TEST(ClassifyAddress, ClassifiesIpv4Literals) {
    const std::pair<const char*, AddressClass> cases[] = {
        {"8.8.8.8", AddressClass::kPublic},
        {"1.1.1.1", AddressClass::kPublic},
        {"11.0.0.1", AddressClass::kPublic},
        {"0.0.0.0", AddressClass::kUnspecified},
        {"0.1.2.3", AddressClass::kUnspecified},
        {"127.0.0.1", AddressClass::kLoopback},
        {"127.255.255.254", AddressClass::kLoopback},
        {"10.0.0.1", AddressClass::kPrivate},
        {"10.255.255.255", AddressClass::kPrivate},
        {"172.15.255.255", AddressClass::kPublic},
        {"172.16.0.1", AddressClass::kPrivate},
        {"172.31.255.255", AddressClass::kPrivate},
        {"172.32.0.1", AddressClass::kPublic},
        {"192.168.1.1", AddressClass::kPrivate},
        {"192.169.0.1", AddressClass::kPublic},
        {"169.254.169.254", AddressClass::kLinkLocal},
        {"100.63.255.255", AddressClass::kPublic},
        {"100.64.0.1", AddressClass::kSharedAddressSpace},
        {"100.127.255.255", AddressClass::kSharedAddressSpace},
        {"100.128.0.1", AddressClass::kPublic},
        {"224.0.0.1", AddressClass::kMulticast},
        {"239.255.255.250", AddressClass::kMulticast},
        {"240.0.0.1", AddressClass::kReserved},
        {"255.255.255.255", AddressClass::kReserved},
        {"192.0.0.8", AddressClass::kReserved},
        {"192.0.2.1", AddressClass::kReserved},
        {"198.18.0.1", AddressClass::kReserved},
        {"198.51.100.7", AddressClass::kReserved},
        {"203.0.113.9", AddressClass::kReserved},
    };
    for (const auto& [literal, expected] : cases) {
        EXPECT_EQ(ClassifyAddress(literal), expected) << literal;
    }
}

TEST(ClassifyAddress, ClassifiesIpv6LiteralsIncludingEmbeddedIpv4) {
    const std::pair<const char*, AddressClass> cases[] = {
        {"2606:4700:4700::1111", AddressClass::kPublic},
        {"2a00:1450:4001::200e", AddressClass::kPublic},
        {"::", AddressClass::kUnspecified},
        {"::1", AddressClass::kLoopback},
        {"fe80::1", AddressClass::kLinkLocal},
        {"febf:ffff::1", AddressClass::kLinkLocal},
        {"fec0::1", AddressClass::kPrivate},
        {"fc00::1", AddressClass::kUniqueLocal},
        {"fd12:3456:789a::1", AddressClass::kUniqueLocal},
        {"ff02::1", AddressClass::kMulticast},
        {"2001:db8::1", AddressClass::kReserved},
        {"::ffff:127.0.0.1", AddressClass::kLoopback},
        {"::ffff:10.1.2.3", AddressClass::kPrivate},
        {"::ffff:169.254.169.254", AddressClass::kLinkLocal},
        {"::ffff:100.64.0.1", AddressClass::kSharedAddressSpace},
        {"::ffff:0.0.0.0", AddressClass::kUnspecified},
        {"::ffff:8.8.8.8", AddressClass::kPublic},
        {"::127.0.0.1", AddressClass::kLoopback},
        {"64:ff9b::10.0.0.1", AddressClass::kPrivate},
        {"64:ff9b::8.8.8.8", AddressClass::kPublic},
        {"2002:a00:1::1", AddressClass::kPrivate},
        {"2002:808:808::1", AddressClass::kPublic},
    };
    for (const auto& [literal, expected] : cases) {
        EXPECT_EQ(ClassifyAddress(literal), expected) << literal;
    }
}

TEST(ClassifyAddress, NonLiteralsAreNotClassified) {
    for (const char* text :
         {"", "localhost", "1.2.3", "256.0.0.1", "[::1]", "::1::2", "1.2.3.4 "}) {
        EXPECT_FALSE(ClassifyAddress(text)) << text;
    }
}

TEST(AddressPolicy, PublicOnlyAllowsOnlyPublicAddresses) {
    for (auto address_class :
         {AddressClass::kUnspecified, AddressClass::kLoopback, AddressClass::kPrivate,
          AddressClass::kSharedAddressSpace, AddressClass::kLinkLocal, AddressClass::kUniqueLocal,
          AddressClass::kMulticast, AddressClass::kReserved}) {
        EXPECT_FALSE(AddressAllowed(AddressPolicy::kPublicOnly, address_class));
        EXPECT_TRUE(AddressAllowed(AddressPolicy::kAllowAll, address_class));
    }
    EXPECT_TRUE(AddressAllowed(AddressPolicy::kPublicOnly, AddressClass::kPublic));
    EXPECT_TRUE(AddressAllowed(AddressPolicy::kAllowAll, AddressClass::kPublic));
}

}  // namespace
}  // namespace commons::http
