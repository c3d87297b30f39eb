#include "middleware/pipeline.hpp"

#include <algorithm>

#include "commons/blocking_pool.hpp"
#include "commons/db.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/redis.hpp"
#include "middleware/auth.hpp"
#include "middleware/idempotency.hpp"
#include "middleware/rate_limit.hpp"
#include "middleware/telemetry.hpp"

namespace middleware {
namespace {

constexpr std::size_t kRequestIdBytesMax = 128;

bool IsAcceptableRequestId(std::string_view id) {
    return !id.empty() && id.size() <= kRequestIdBytesMax &&
           std::all_of(id.begin(), id.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == ':' || c == '-';
           });
}

commons::http::Response Unavailable(std::string_view what) {
    auto response = commons::http::Response::Error(commons::ApiError::Unavailable(
        std::string(what) + " is temporarily unavailable; retry shortly."));
    response.SetHeader("Retry-After", "1");
    return response;
}

}  // namespace

commons::http::Middleware RequestId(commons::IdGenerator& ids) {
    return [&ids](commons::http::Request& request, const commons::http::Handler& next) {
        auto given = request.Header("x-request-id");
        request.request_id =
            given && IsAcceptableRequestId(*given) ? std::string(*given) : ids.Next("req");
        commons::ScopedRequestId scope(request.request_id);
        auto response = next(request);
        response.SetHeader("X-Request-Id", request.request_id);
        return response;
    };
}

commons::http::Middleware ErrorBoundary(commons::Logger& logger) {
    return [&logger](commons::http::Request& request,
                     const commons::http::Handler& next) -> commons::http::Response {
        try {
            return next(request);
        } catch (const commons::DatabaseUnavailableError& error) {
            logger.Error("database unavailable",
                         {{"error", error.what()}, {"route", request.route}});
            return Unavailable("The database");
        } catch (const commons::RedisUnavailableError& error) {
            logger.Error("redis unavailable", {{"error", error.what()}, {"route", request.route}});
            return Unavailable("Redis");
        } catch (const commons::OverloadedError& error) {
            logger.Warn("overloaded", {{"error", error.what()}, {"route", request.route}});
            return Unavailable("The service");
        } catch (const std::exception& error) {
            logger.Error("unhandled error", {{"error", error.what()}, {"route", request.route}});
            return commons::http::Response::Error(commons::ApiError::Internal());
        }
    };
}

std::vector<commons::http::Middleware> StandardPipeline(PipelineParts parts) {
    std::vector<commons::http::Middleware> pipeline = {
        RequestId(parts.ids),
        AccessLog(parts.logger),
        parts.metrics.Middleware(),
        ErrorBoundary(parts.logger),
        Authentication(parts.api_keys, parts.public_route_prefixes),
        RateLimit(parts.rate_limiter),
    };
    if (parts.idempotency != nullptr) pipeline.push_back(Idempotency(*parts.idempotency));
    return pipeline;
}

}  // namespace middleware
