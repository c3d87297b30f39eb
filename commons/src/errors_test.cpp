#include "commons/errors.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace commons {
namespace {

using nlohmann::json;

json Parse(const std::string& text) {
    json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << text;
    return parsed;
}

TEST(ErrorTypeName, NamesEveryType) {
    EXPECT_EQ(ErrorTypeName(ErrorType::kInvalidRequest), "invalid_request_error");
    EXPECT_EQ(ErrorTypeName(ErrorType::kAuthentication), "authentication_error");
    EXPECT_EQ(ErrorTypeName(ErrorType::kPermission), "permission_error");
    EXPECT_EQ(ErrorTypeName(ErrorType::kRateLimit), "rate_limit_error");
    EXPECT_EQ(ErrorTypeName(ErrorType::kIdempotency), "idempotency_error");
    EXPECT_EQ(ErrorTypeName(ErrorType::kApi), "api_error");
}

TEST(ApiError, DefaultIsInternalApiError) {
    ApiError error;
    EXPECT_EQ(error.status, 500);
    EXPECT_EQ(error.type, ErrorType::kApi);
    EXPECT_FALSE(error.param.has_value());
}

TEST(ApiErrorToJson, HasTheErrorShape) {
    ApiError error{409, ErrorType::kIdempotency, "idempotency_key_reused", "Key reused.",
                   std::nullopt};
    json parsed = Parse(error.ToJson());
    ASSERT_TRUE(parsed.is_object());
    ASSERT_EQ(parsed.size(), 1u);
    const json& body = parsed["error"];
    EXPECT_EQ(body["type"], "idempotency_error");
    EXPECT_EQ(body["code"], "idempotency_key_reused");
    EXPECT_EQ(body["message"], "Key reused.");
    EXPECT_FALSE(body.contains("param"));
    EXPECT_EQ(body.size(), 3u);
}

TEST(ApiErrorToJson, IncludesParamOnlyWhenSet) {
    auto with = ApiError::BadRequest("parameter_invalid", "Bad amount.", "amount");
    EXPECT_EQ(Parse(with.ToJson())["error"]["param"], "amount");
    auto without = ApiError::BadRequest("parameter_invalid", "Bad body.");
    EXPECT_FALSE(Parse(without.ToJson())["error"].contains("param"));
    auto empty = ApiError::BadRequest("parameter_invalid", "Bad.", "");
    EXPECT_EQ(Parse(empty.ToJson())["error"]["param"], "");
}

TEST(ApiErrorToJson, EscapesReflectedText) {
    std::string message = "bad \"value\" with \\ and \n and </script>";
    auto error = ApiError::BadRequest("parameter_invalid", message, "a\"b");
    json parsed = Parse(error.ToJson());
    EXPECT_EQ(parsed["error"]["message"], message);
    EXPECT_EQ(parsed["error"]["param"], "a\"b");
}

TEST(ApiErrorToJson, InvalidUtf8DoesNotThrow) {
    auto error = ApiError::BadRequest("parameter_invalid", "got \xff\xfe", "field\xc3");
    std::string text;
    ASSERT_NO_THROW(text = error.ToJson());
    json parsed = Parse(text);
    EXPECT_THAT(parsed["error"]["message"].get<std::string>(), testing::StartsWith("got "));
    EXPECT_TRUE(parsed["error"]["param"].is_string());
}

TEST(ApiErrorBadRequest, Is400InvalidRequest) {
    auto error = ApiError::BadRequest("parameter_missing", "amount is required.", "amount");
    EXPECT_EQ(error.status, 400);
    EXPECT_EQ(error.type, ErrorType::kInvalidRequest);
    EXPECT_EQ(error.code, "parameter_missing");
    EXPECT_EQ(error.message, "amount is required.");
    EXPECT_EQ(error.param, "amount");
}

TEST(ApiErrorNotFound, Is404ResourceMissing) {
    auto error = ApiError::NotFound("No such account: acct_1.");
    EXPECT_EQ(error.status, 404);
    EXPECT_EQ(error.type, ErrorType::kInvalidRequest);
    EXPECT_EQ(error.code, "resource_missing");
    EXPECT_EQ(error.message, "No such account: acct_1.");
    EXPECT_FALSE(error.param.has_value());
}

TEST(ApiErrorUnauthorized, Is401Authentication) {
    auto error = ApiError::Unauthorized("invalid_api_key", "The API key is not valid.");
    EXPECT_EQ(error.status, 401);
    EXPECT_EQ(error.type, ErrorType::kAuthentication);
    EXPECT_EQ(error.code, "invalid_api_key");
    json parsed = Parse(error.ToJson());
    EXPECT_EQ(parsed["error"]["type"], "authentication_error");
    EXPECT_EQ(parsed["error"]["code"], "invalid_api_key");
}

TEST(ApiErrorForbidden, Is403InsufficientScope) {
    auto error = ApiError::Forbidden("The key lacks ledger:write.");
    EXPECT_EQ(error.status, 403);
    EXPECT_EQ(error.type, ErrorType::kPermission);
    EXPECT_EQ(error.code, "insufficient_scope");
    EXPECT_EQ(error.message, "The key lacks ledger:write.");
}

TEST(ApiErrorInternal, Is500WithGenericMessage) {
    auto error = ApiError::Internal();
    EXPECT_EQ(error.status, 500);
    EXPECT_EQ(error.type, ErrorType::kApi);
    EXPECT_EQ(error.code, "internal_error");
    EXPECT_EQ(error.message, "An internal error occurred.");
    json parsed = Parse(error.ToJson());
    EXPECT_EQ(parsed["error"]["type"], "api_error");
    EXPECT_EQ(parsed["error"].size(), 3u);
}

TEST(ApiErrorUnavailable, Is503ServiceUnavailable) {
    auto error = ApiError::Unavailable("The ledger is unavailable.");
    EXPECT_EQ(error.status, 503);
    EXPECT_EQ(error.type, ErrorType::kApi);
    EXPECT_EQ(error.code, "service_unavailable");
    EXPECT_EQ(error.message, "The ledger is unavailable.");
}

}  // namespace
}  // namespace commons
