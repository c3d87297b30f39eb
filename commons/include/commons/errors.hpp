#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace commons {

// The error types of DESIGN.md's error shape.
enum class ErrorType {
    kInvalidRequest,  // "invalid_request_error": 400, 404, 405, 409, 413, 422
    kAuthentication,  // "authentication_error": 401
    kPermission,      // "permission_error": 403
    kRateLimit,       // "rate_limit_error": 429
    kIdempotency,     // "idempotency_error"
    kApi,             // "api_error": 5xx
};

std::string_view ErrorTypeName(ErrorType type);

// One API error: an HTTP status plus the body
// {"error": {"type": ..., "code": ..., "message": ..., "param": ...}}.
struct ApiError {
    int status = 500;
    ErrorType type = ErrorType::kApi;
    std::string code;
    std::string message;
    std::optional<std::string> param;

    // Serialises to the JSON error shape. Never contains internals the caller did not put in.
    std::string ToJson() const;

    static ApiError BadRequest(std::string code, std::string message,
                               std::optional<std::string> param = std::nullopt);
    static ApiError NotFound(std::string message);
    static ApiError Unauthorized(std::string code, std::string message);
    static ApiError Forbidden(std::string message);
    static ApiError Internal();
    static ApiError Unavailable(std::string message);
};

}  // namespace commons
