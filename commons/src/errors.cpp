#include "commons/errors.hpp"

#include <nlohmann/json.hpp>

namespace commons {

std::string_view ErrorTypeName(ErrorType type) {
    switch (type) {
        case ErrorType::kInvalidRequest:
            return "invalid_request_error";
        case ErrorType::kAuthentication:
            return "authentication_error";
        case ErrorType::kPermission:
            return "permission_error";
        case ErrorType::kRateLimit:
            return "rate_limit_error";
        case ErrorType::kIdempotency:
            return "idempotency_error";
        case ErrorType::kApi:
            return "api_error";
    }
    return "api_error";
}

std::string ApiError::ToJson() const {
    nlohmann::json error = {
        {"type", ErrorTypeName(type)},
        {"code", code},
        {"message", message},
    };
    if (param) error["param"] = *param;
    // Replacement of invalid UTF-8 keeps a reflected client value from making dump() throw.
    return nlohmann::json{{"error", std::move(error)}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiError ApiError::BadRequest(std::string code, std::string message,
                              std::optional<std::string> param) {
    return {400, ErrorType::kInvalidRequest, std::move(code), std::move(message), std::move(param)};
}

ApiError ApiError::NotFound(std::string message) {
    return {404, ErrorType::kInvalidRequest, "resource_missing", std::move(message), std::nullopt};
}

ApiError ApiError::Unauthorized(std::string code, std::string message) {
    return {401, ErrorType::kAuthentication, std::move(code), std::move(message), std::nullopt};
}

ApiError ApiError::Forbidden(std::string message) {
    return {403, ErrorType::kPermission, "insufficient_scope", std::move(message), std::nullopt};
}

ApiError ApiError::Internal() {
    return {500, ErrorType::kApi, "internal_error", "An internal error occurred.", std::nullopt};
}

ApiError ApiError::Unavailable(std::string message) {
    return {503, ErrorType::kApi, "service_unavailable", std::move(message), std::nullopt};
}

}  // namespace commons
