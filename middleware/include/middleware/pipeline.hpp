#pragma once

#include <string>
#include <vector>

#include "commons/http/types.hpp"

namespace commons {
class IdGenerator;
class Logger;
}  // namespace commons

namespace middleware {

class ApiKeyStore;
class IdempotencyStore;
class RateLimiter;
class RequestMetrics;

// Accepts a client's X-Request-Id (1 to 128 characters of A-Z a-z 0-9 . _ : -) or makes one
// (`req_...`), echoes it on the response, and makes it the request id of every log line the
// request writes.
commons::http::Middleware RequestId(commons::IdGenerator& ids);

// Turns anything thrown below it into a JSON error: 503 with Retry-After for unavailable
// dependencies (database, Redis, a full work queue), 500 otherwise. Logs each once with the
// request id; the response never carries the exception text.
commons::http::Middleware ErrorBoundary(commons::Logger& logger);

struct PipelineParts {
    commons::IdGenerator& ids;
    commons::Logger& logger;
    RequestMetrics& metrics;
    ApiKeyStore& api_keys;
    RateLimiter& rate_limiter;
    IdempotencyStore* idempotency;  // nullptr: Idempotency-Key is not honoured
    // Paths under /v1/ that need no API key because they authenticate otherwise (webhook intake
    // checks a signature).
    std::vector<std::string> public_route_prefixes = {};
};

// The request pipeline of every service, outermost first. This is the one place its order is
// written:
//   1. request id      — first, so every later step and log line has it;
//   2. access log      — sees the final status, including errors made below;
//   3. metrics         — likewise;
//   4. error boundary  — turns exceptions from everything below into JSON 500/503;
//   5. authentication  — 401/403 before any work or state;
//   6. rate limit      — per authenticated key;
//   7. idempotency     — after auth (keys are scoped per API key), just around the handler.
// Body-size and header limits are enforced earlier, by the HTTP server while reading.
std::vector<commons::http::Middleware> StandardPipeline(PipelineParts parts);

}  // namespace middleware
