#pragma once

#include <vector>

#include "commons/http/types.hpp"

namespace commons {
class IdGenerator;
class Logger;
}  // namespace commons

namespace middleware {

class ApiKeyStore;

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
    ApiKeyStore& api_keys;
};

// The request pipeline of every service, outermost first. This is the one place its order is
// written: request id, error boundary, authentication.
std::vector<commons::http::Middleware> StandardPipeline(PipelineParts parts);

}  // namespace middleware
