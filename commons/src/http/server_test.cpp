#include "commons/http/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <thread>

#include "commons/blocking_pool.hpp"
#include "commons/log.hpp"
#include "support/gate.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace commons::http {
namespace {

using namespace std::chrono_literals;
using test_support::HttpConnection;

using test_support::Gate;

std::string ErrorCode(const std::string& body) {
    return nlohmann::json::parse(body).at("error").at("code").get<std::string>();
}

class ServerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        router_.Add(
            Method::kGet, "/inline",
            [](Request&) { return Response::Json(200, R"({"where":"inline"})"); },
            Execution::kInline);
        router_.Add(Method::kGet, "/v1/things/{id}", [](Request& request) {
            return Response::Json(
                200,
                nlohmann::json{{"id", request.PathParam("id")}, {"route", request.route}}.dump());
        });
        router_.Add(Method::kPost, "/echo", [](Request& request) {
            return Response::Text(200, request.body, "text/plain");
        });
        router_.Add(Method::kGet, "/throws",
                    [](Request&) -> Response { throw std::runtime_error("secret detail"); });
        router_.Add(Method::kGet, "/gate", [this](Request&) {
            gate_.Wait();
            return Response::Json(200, R"({"released":true})");
        });
    }

    void Start(ServerSettings settings = {}, std::size_t pool_threads = 4,
               std::size_t pool_queue = 64) {
        settings.address = "127.0.0.1";
        settings.port = 0;
        pool_ = std::make_unique<BlockingPool>(pool_threads, pool_queue);
        server_ = std::make_unique<Server>(settings, router_, pipeline_, *pool_, logger_);
        port_ = server_->Start();
    }

    void TearDown() override {
        gate_.Open();
        if (server_) server_->Stop();
    }

    Router router_;
    std::vector<Middleware> pipeline_;
    Logger logger_{"test", stderr, LogLevel::kError};
    std::unique_ptr<BlockingPool> pool_;
    std::unique_ptr<Server> server_;
    std::uint16_t port_ = 0;
    Gate gate_;
};

TEST_F(ServerTest, ServesRoutesWithPathParameters) {
    Start();
    auto reply = test_support::Fetch(port_, "GET", "/v1/things/th%5F1");
    EXPECT_EQ(reply.status, 200);
    auto body = nlohmann::json::parse(reply.body);
    EXPECT_EQ(body["id"], "th_1");
    EXPECT_EQ(body["route"], "/v1/things/{id}");
    EXPECT_EQ(reply.Header("content-type"), "application/json");
}

TEST_F(ServerTest, APortAlreadyInUseIsASystemErrorNamingTheAddress) {
    Start();
    ServerSettings settings;
    settings.address = "127.0.0.1";
    settings.port = port_;
    Server second(settings, router_, pipeline_, *pool_, logger_);
    try {
        second.Start();
        FAIL() << "a second server bound the same port";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), EADDRINUSE);
        EXPECT_NE(std::string(error.what()).find("127.0.0.1:" + std::to_string(port_)),
                  std::string::npos)
            << error.what();
    }
    // The first server is untouched.
    EXPECT_EQ(test_support::Fetch(port_, "GET", "/inline").status, 200);
}

TEST_F(ServerTest, UnknownPathIsJson404) {
    Start();
    auto reply = test_support::Fetch(port_, "GET", "/nope");
    EXPECT_EQ(reply.status, 404);
    EXPECT_EQ(ErrorCode(reply.body), "resource_missing");
}

TEST_F(ServerTest, HeadResponseHasNoBodySoTheConnectionStaysUsable) {
    Start();
    HttpConnection connection(port_);
    connection.SendRaw("HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    auto head = connection.ReadReply(/*expect_body=*/false);
    EXPECT_EQ(head.status, 405);
    EXPECT_NE(head.Header("content-length"), "0");  // the length a GET would have had
    // Had the server sent a body, these bytes would be read as the next reply.
    auto next = connection.Request("POST", "/echo", {}, "ok");
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.body, "ok");
}

TEST_F(ServerTest, HeadUsesTheGetRouteAndSendsHeadersOnly) {
    Start();
    HttpConnection connection(port_);
    connection.SendRaw("HEAD /inline HTTP/1.1\r\nHost: x\r\n\r\n");
    auto head = connection.ReadReply(/*expect_body=*/false);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.Header("content-length"),
              std::to_string(std::string(R"({"where":"inline"})").size()));
    auto next = connection.Request("GET", "/inline");
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.body, R"({"where":"inline"})");
}

TEST_F(ServerTest, StopWaitsForAHandlerThatOutlivesTheDrain) {
    std::FILE* log_file = std::tmpfile();
    Logger logger("test", log_file, LogLevel::kWarn);
    ServerSettings settings;
    settings.address = "127.0.0.1";
    settings.drain_timeout = 50ms;
    settings.request_timeout = 60s;
    BlockingPool pool(2, 8);
    auto server = std::make_unique<Server>(settings, router_, pipeline_, pool, logger);
    auto port = server->Start();
    HttpConnection in_flight(port, 30s);
    in_flight.SendRaw("GET /gate HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(gate_.WaitForWaiters(1));
    auto stopped = std::async(std::launch::async, [&] { server->Stop(); });
    auto log_text = [&] { return test_support::ReadAll(log_file); };
    ASSERT_TRUE(test_support::PollUntil(
        10s, [&] { return log_text().find("drain timeout passed") != std::string::npos; }));
    // Past the drain, Stop() still waits: the handler uses the server.
    EXPECT_EQ(stopped.wait_for(0s), std::future_status::timeout);
    gate_.Open();
    stopped.get();
    server.reset();  // safe only because no handler is left (ASan checks this in CI)
    std::fclose(log_file);
}

TEST_F(ServerTest, KnownPathWithWrongMethodIs405WithAllow) {
    Start();
    auto reply = test_support::Fetch(port_, "DELETE", "/echo");
    EXPECT_EQ(reply.status, 405);
    EXPECT_EQ(ErrorCode(reply.body), "method_not_allowed");
    EXPECT_EQ(reply.Header("allow"), "POST");
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    Start();
    HttpConnection connection(port_);
    for (int i = 0; i < 5; ++i) {
        auto reply = connection.Request("POST", "/echo", {}, "body " + std::to_string(i));
        EXPECT_EQ(reply.status, 200);
        EXPECT_EQ(reply.body, "body " + std::to_string(i));
        EXPECT_FALSE(reply.connection_closed);
    }
}

TEST_F(ServerTest, BodyOverLimitIs413AndConnectionCloses) {
    ServerSettings settings;
    settings.body_bytes_max = 1024;
    Start(settings);
    HttpConnection connection(port_);
    auto reply = connection.Request("POST", "/echo", {}, std::string(4096, 'x'));
    EXPECT_EQ(reply.status, 413);
    EXPECT_EQ(ErrorCode(reply.body), "body_too_large");
    EXPECT_TRUE(reply.connection_closed);
    // A body exactly at the limit is accepted.
    auto at_limit = test_support::Fetch(port_, "POST", "/echo", {}, std::string(1024, 'y'));
    EXPECT_EQ(at_limit.status, 200);
    EXPECT_EQ(at_limit.body.size(), 1024u);
}

TEST_F(ServerTest, HeadersOverLimitAre431) {
    ServerSettings settings;
    settings.header_bytes_max = 2048;
    Start(settings);
    auto reply = test_support::Fetch(port_, "GET", "/inline", {{"X-Big", std::string(4096, 'h')}});
    EXPECT_EQ(reply.status, 431);
    EXPECT_EQ(ErrorCode(reply.body), "headers_too_large");
}

TEST_F(ServerTest, MalformedRequestIs400AndConnectionCloses) {
    Start();
    HttpConnection connection(port_);
    connection.SendRaw("THIS IS NOT HTTP\r\n\r\n");
    auto reply = connection.ReadReply();
    EXPECT_EQ(reply.status, 400);
    EXPECT_EQ(ErrorCode(reply.body), "malformed_request");
    EXPECT_TRUE(connection.WaitForClose());
}

TEST_F(ServerTest, InvalidContentLengthIs400) {
    Start();
    HttpConnection connection(port_);
    connection.SendRaw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n");
    auto reply = connection.ReadReply();
    EXPECT_EQ(reply.status, 400);
}

TEST_F(ServerTest, SlowClientThatNeverFinishesHeadersIsDisconnected) {
    ServerSettings settings;
    settings.header_timeout = 200ms;
    Start(settings);
    HttpConnection connection(port_, 10s);
    connection.SendRaw("GET /inline HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    // The server must close the connection on its own; the client's 10 s deadline only
    // stops a broken server from hanging the test.
    EXPECT_TRUE(connection.WaitForClose());
    // The server still serves others.
    EXPECT_EQ(test_support::Fetch(port_, "GET", "/inline").status, 200);
}

TEST_F(ServerTest, IdleConnectionIsClosed) {
    ServerSettings settings;
    settings.idle_timeout = 200ms;
    Start(settings);
    HttpConnection connection(port_, 10s);
    EXPECT_TRUE(connection.WaitForClose());
    EXPECT_TRUE(test_support::PollUntil(10s, [&] { return server_->open_connections() == 0; }));
}

TEST_F(ServerTest, HandlerExceptionBecomesJson500WithoutDetails) {
    Start();
    auto reply = test_support::Fetch(port_, "GET", "/throws");
    EXPECT_EQ(reply.status, 500);
    EXPECT_EQ(ErrorCode(reply.body), "internal_error");
    EXPECT_EQ(reply.body.find("secret detail"), std::string::npos);
}

TEST_F(ServerTest, BlockedHandlerDoesNotBlockIoThread) {
    ServerSettings settings;
    settings.io_threads = 1;
    Start(settings);
    auto blocked =
        std::async(std::launch::async, [&] { return test_support::Fetch(port_, "GET", "/gate"); });
    ASSERT_TRUE(gate_.WaitForWaiters(1));
    // With the only io thread free, inline routes still answer while the handler blocks.
    EXPECT_EQ(test_support::Fetch(port_, "GET", "/inline").status, 200);
    gate_.Open();
    EXPECT_EQ(blocked.get().status, 200);
}

TEST_F(ServerTest, FullBlockingPoolAnswers503WithRetryAfter) {
    Start({}, /*pool_threads=*/1, /*pool_queue=*/1);
    auto running =
        std::async(std::launch::async, [&] { return test_support::Fetch(port_, "GET", "/gate"); });
    ASSERT_TRUE(gate_.WaitForWaiters(1));
    auto queued =
        std::async(std::launch::async, [&] { return test_support::Fetch(port_, "GET", "/gate"); });
    ASSERT_TRUE(test_support::PollUntil(10s, [&] { return pool_->queued() == 1; }));
    auto refused = test_support::Fetch(port_, "GET", "/v1/things/x");
    EXPECT_EQ(refused.status, 503);
    EXPECT_EQ(ErrorCode(refused.body), "service_unavailable");
    EXPECT_EQ(refused.Header("retry-after"), "1");
    gate_.Open();
    EXPECT_EQ(running.get().status, 200);
    EXPECT_EQ(queued.get().status, 200);
}

TEST_F(ServerTest, StopDrainsInFlightRequestAndRefusesNewConnections) {
    ServerSettings settings;
    settings.drain_timeout = 60s;
    Start(settings);
    HttpConnection in_flight(port_, 30s);
    in_flight.SendRaw("GET /gate HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(gate_.WaitForWaiters(1));

    auto stopped = std::async(std::launch::async, [&] { server_->Stop(); });
    // New connections are refused once the acceptor closes.
    EXPECT_TRUE(test_support::PollUntil(10s, [&] {
        try {
            HttpConnection probe(port_);
            return false;
        } catch (const std::runtime_error&) {
            return true;
        }
    }));
    EXPECT_EQ(stopped.wait_for(0s), std::future_status::timeout);  // still draining
    gate_.Open();
    auto reply = in_flight.ReadReply();
    EXPECT_EQ(reply.status, 200);
    EXPECT_TRUE(reply.connection_closed);
    stopped.get();
}

TEST_F(ServerTest, StopClosesIdleKeepAliveConnections) {
    ServerSettings settings;
    settings.drain_timeout = 60s;
    Start(settings);
    HttpConnection idle(port_, 30s);
    EXPECT_EQ(idle.Request("GET", "/inline").status, 200);
    server_->Stop();
    EXPECT_TRUE(idle.WaitForClose());
    EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(ServerTest, PipelineRunsOutermostFirstAndSeesUnmatchedRoutes) {
    std::vector<std::string> order;
    std::mutex order_mutex;
    auto step = [&](std::string name) -> Middleware {
        return [&, name](Request& request, const Handler& next) {
            {
                std::lock_guard lock(order_mutex);
                order.push_back(name + ":" + request.route);
            }
            auto response = next(request);
            response.SetHeader("X-Step-" + name, "1");
            return response;
        };
    };
    pipeline_ = {step("a"), step("b")};
    Start();
    auto found = test_support::Fetch(port_, "GET", "/v1/things/1");
    auto missing = test_support::Fetch(port_, "GET", "/missing");
    EXPECT_EQ(found.Header("x-step-a"), "1");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.Header("x-step-b"), "1");
    std::lock_guard lock(order_mutex);
    EXPECT_EQ(order,
              (std::vector<std::string>{"a:/v1/things/{id}", "b:/v1/things/{id}", "a:", "b:"}));
}

}  // namespace
}  // namespace commons::http
