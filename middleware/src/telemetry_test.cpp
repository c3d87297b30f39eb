#include "middleware/telemetry.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "support/temp_dir.hpp"

namespace middleware {
namespace {

using commons::http::Handler;
using commons::http::Method;
using commons::http::Request;
using commons::http::Response;

using test_support::ReadAll;

TEST(AccessLog, WritesOneJsonLineWithRouteStatusSizesAndIdsButNoKey) {
    std::FILE* file = std::tmpfile();
    commons::Logger logger("svc", file);
    Request request;
    request.method = Method::kPost;
    request.route = "/v1/things/{id}";
    request.path = "/v1/things/th_1";
    request.body = "12345";
    request.request_id = "req_1";
    request.key_id = "key_dev";
    request.headers = {{"authorization", "Bearer sk_secret_value"}};
    request.received = std::chrono::steady_clock::now();
    AccessLog(logger)(request, [](Request&) { return Response::Json(201, "{\"ok\":true}"); });

    std::string text = ReadAll(file);
    ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
    auto line = nlohmann::json::parse(text);
    EXPECT_EQ(line["msg"], "request");
    EXPECT_EQ(line["method"], "POST");
    EXPECT_EQ(line["route"], "/v1/things/{id}");
    EXPECT_EQ(line["status"], 201);
    EXPECT_EQ(line["bytes_in"], 5);
    EXPECT_EQ(line["bytes_out"], 11);
    EXPECT_EQ(line["request_id"], "req_1");
    EXPECT_EQ(line["key_id"], "key_dev");
    EXPECT_GE(line["duration_ms"].get<double>(), 0.0);
    EXPECT_EQ(text.find("sk_secret_value"), std::string::npos);
    std::fclose(file);
}

TEST(AccessLog, NamesUnmatchedRoutes) {
    std::FILE* file = std::tmpfile();
    commons::Logger logger("svc", file);
    Request request;
    request.path = "/nope";
    AccessLog(logger)(request, [](Request&) { return Response::Json(404, "{}"); });
    EXPECT_EQ(nlohmann::json::parse(ReadAll(file))["route"], "unmatched");
    std::fclose(file);
}

TEST(RequestMetrics, CountsByRouteTemplateMethodAndStatusClassNeverByPath) {
    commons::Metrics metrics;
    RequestMetrics request_metrics("svc", metrics);
    auto middleware = request_metrics.Middleware();
    auto run = [&](std::string route, std::string path, int status) {
        Request request;
        request.route = std::move(route);
        request.path = std::move(path);
        request.received = std::chrono::steady_clock::now();
        middleware(request, [status](Request&) { return Response::Json(status, "{}"); });
    };
    run("/v1/things/{id}", "/v1/things/a", 200);
    run("/v1/things/{id}", "/v1/things/b", 201);
    run("/v1/things/{id}", "/v1/things/c", 422);
    run("", "/random/path/123", 404);

    std::string text = metrics.Serialize();
    EXPECT_NE(
        text.find("http_requests_total{method=\"GET\",route=\"/v1/things/{id}\",service=\"svc\","
                  "status_class=\"2xx\"} 2"),
        std::string::npos)
        << text;
    EXPECT_NE(text.find("status_class=\"4xx\"} 1"), std::string::npos);
    EXPECT_NE(text.find("route=\"unmatched\""), std::string::npos);
    EXPECT_NE(text.find("http_request_duration_seconds_bucket"), std::string::npos);
    EXPECT_EQ(text.find("/v1/things/a"), std::string::npos);
    EXPECT_EQ(text.find("/random/path/123"), std::string::npos);
}

}  // namespace
}  // namespace middleware
