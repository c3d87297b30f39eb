#include "middleware/pipeline.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "commons/blocking_pool.hpp"
#include "commons/db.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/redis.hpp"
#include "support/temp_dir.hpp"

namespace middleware {
namespace {

using commons::http::Handler;
using commons::http::Request;
using commons::http::Response;

class PipelineTest : public ::testing::Test {
  protected:
    Response Run(const commons::http::Middleware& middleware, Request& request,
                 const Handler& next) {
        return middleware(request, next);
    }

    commons::IdGenerator ids_;
    std::FILE* log_file_ = std::tmpfile();
    commons::Logger logger_{"test", log_file_, commons::LogLevel::kDebug};

    std::string LogText() {
        std::string text = test_support::ReadAll(log_file_);
        return text;
    }
};

Response Ok(Request&) { return Response::Json(200, "{}"); }

TEST_F(PipelineTest, RequestIdAcceptsAWellFormedClientId) {
    Request request;
    request.headers = {{"x-request-id", "client-abc_1.2:3"}};
    std::string seen_in_log_scope;
    auto response = Run(RequestId(ids_), request, [&](Request& r) {
        seen_in_log_scope = std::string(commons::CurrentRequestId());
        return Ok(r);
    });
    EXPECT_EQ(response.Header("X-Request-Id"), "client-abc_1.2:3");
    EXPECT_EQ(request.request_id, "client-abc_1.2:3");
    EXPECT_EQ(seen_in_log_scope, "client-abc_1.2:3");
    EXPECT_EQ(commons::CurrentRequestId(), "");
}

TEST_F(PipelineTest, RequestIdReplacesOversizedUnsafeOrNonUtf8Ids) {
    for (std::string bad :
         {std::string(129, 'a'), std::string("has space"), std::string("inject\r\nX-Evil: 1"),
          std::string("caf\xc3\xa9"), std::string("\xff\xfe"), std::string("")}) {
        Request request;
        request.headers = {{"x-request-id", bad}};
        auto response = Run(RequestId(ids_), request, Ok);
        ASSERT_TRUE(response.Header("X-Request-Id"));
        EXPECT_NE(*response.Header("X-Request-Id"), bad);
        EXPECT_TRUE(commons::IsGeneratedId(*response.Header("X-Request-Id"), "req"));
    }
}

TEST_F(PipelineTest, RequestIdOfExactly128SafeCharactersIsKept) {
    Request request;
    std::string id(128, 'z');
    request.headers = {{"x-request-id", id}};
    EXPECT_EQ(Run(RequestId(ids_), request, Ok).Header("X-Request-Id"), id);
}

TEST_F(PipelineTest, ErrorBoundaryMapsUnavailableDependenciesTo503) {
    auto boundary = ErrorBoundary(logger_);
    Request request;
    auto database = Run(boundary, request, [](Request&) -> Response {
        throw commons::DatabaseUnavailableError("connection refused to 10.0.0.1");
    });
    EXPECT_EQ(database.status, 503);
    EXPECT_EQ(database.Header("Retry-After"), "1");
    EXPECT_EQ(database.body.find("10.0.0.1"), std::string::npos);
    auto redis = Run(boundary, request,
                     [](Request&) -> Response { throw commons::RedisUnavailableError("down"); });
    EXPECT_EQ(redis.status, 503);
    auto overloaded = Run(boundary, request,
                          [](Request&) -> Response { throw commons::OverloadedError("full"); });
    EXPECT_EQ(overloaded.status, 503);
}

TEST_F(PipelineTest, ErrorBoundaryHidesUnexpectedErrorsAndLogsThemOnce) {
    auto boundary = ErrorBoundary(logger_);
    Request request;
    request.route = "/v1/x";
    commons::ScopedRequestId scope("req_test");
    auto response = Run(boundary, request, [](Request&) -> Response {
        throw std::runtime_error("SELECT * FROM secrets");
    });
    EXPECT_EQ(response.status, 500);
    auto body = nlohmann::json::parse(response.body);
    EXPECT_EQ(body["error"]["code"], "internal_error");
    EXPECT_EQ(response.body.find("SELECT"), std::string::npos);
    std::string log = LogText();
    EXPECT_NE(log.find("SELECT * FROM secrets"), std::string::npos);
    EXPECT_NE(log.find("\"request_id\":\"req_test\""), std::string::npos);
    EXPECT_EQ(log.find("unhandled error"), log.rfind("unhandled error"));
}

TEST_F(PipelineTest, ErrorBoundaryPassesResponsesThrough) {
    Request request;
    auto response = Run(ErrorBoundary(logger_), request,
                        [](Request&) { return Response::Json(422, R"({"x":1})"); });
    EXPECT_EQ(response.status, 422);
    EXPECT_EQ(response.body, R"({"x":1})");
}

}  // namespace
}  // namespace middleware
