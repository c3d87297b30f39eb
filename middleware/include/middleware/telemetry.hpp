#pragma once

#include <memory>
#include <string>

#include "commons/http/types.hpp"

namespace commons {
class Logger;
class Metrics;
}  // namespace commons

namespace middleware {

// One JSON line per request: method, route template, path, status, duration (from the moment
// the request was read, so queueing counts), bytes in and out, request id and the
// authenticated key's id — never the key itself.
commons::http::Middleware AccessLog(commons::Logger& logger);

// http_requests_total and http_request_duration_seconds, labelled by service, route template
// ("unmatched" for 404s), method and status class ("2xx"): never by raw path or id, so the
// number of series is bounded by the routes.
class RequestMetrics {
  public:
    RequestMetrics(std::string service, commons::Metrics& metrics);
    ~RequestMetrics();
    RequestMetrics(const RequestMetrics&) = delete;
    RequestMetrics& operator=(const RequestMetrics&) = delete;

    commons::http::Middleware Middleware();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace middleware
