#pragma once

// The part of serving one HTTP request that involves no socket: the parser's limits, turning
// what the parser read (or the error it stopped with) into a Request or a refusal, choosing the
// route, running the pipeline, and building the message to write. server.cpp runs these steps
// around its reads and writes; fuzz/fuzz_http_server.cpp runs the same steps on bytes from
// memory. Internal to commons/http: it includes Beast, so no public header includes it.

#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "commons/http/router.hpp"
#include "commons/http/server.hpp"
#include "commons/http/types.hpp"

namespace commons {
class Logger;
}  // namespace commons

namespace commons::http::internal {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;
using WireResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Sets the header and body limits of `settings` on a parser that has not read anything yet.
void LimitParser(RequestParser& parser, const ServerSettings& settings);

// What reading one request came to.
struct Incoming {
    // Set when the request is answered without running the pipeline: 413, 431, or 400 for
    // malformed HTTP, a target that is not an absolute path (these close the connection: keep_alive
    // is false) or a query that CheckQuery refuses.
    std::optional<Response> refusal;
    Request request;  // when !refusal: method, target, path, query, headers, body and times
    bool keep_alive = false;
    bool head_request = false;  // the response must carry no body
};

// Turns how reading a request ended into the request to serve or its refusal. nullopt when the
// connection is to be closed without an answer: a timeout, a reset, or a client that went away
// mid-request. Precondition: when `error` is empty, the parser is done.
std::optional<Incoming> ReadRequest(const boost::system::error_code& error, RequestParser& parser,
                                    const ServerSettings& settings, std::string remote_address,
                                    std::chrono::steady_clock::time_point now);

// The route a request runs through.
struct Routed {
    // The router's route the request matched; null when none did.
    const Route* matched = nullptr;
    // When none did: an inline route answering 404, or 405 with an Allow header.
    Route fallback;

    const Route& route() const { return matched != nullptr ? *matched : fallback; }
};

// Matches `request` against `router`. On a match, fills Request::route, required_scope and
// path_params (percent-decoded).
Routed RouteRequest(const Router& router, Request& request);

// The middleware of a server composed once, middleware[0] outermost and the route's handler
// innermost. Thread-safe: Run() may be called from many threads at once.
class Pipeline {
  public:
    Pipeline(std::vector<Middleware> middleware, Logger& logger);

    // Runs `request` through the middleware and `route`'s handler. Anything they throw is
    // logged and becomes a JSON 500 (the error-boundary middleware normally answers first).
    Response Run(Request& request, const Route& route) const;

  private:
    Handler entry_;
    Logger& logger_;
};

// The message to write for `response`: a status outside 200..599 is logged and becomes a 500,
// 204 and 304 lose their body, and the answer to a HEAD request has the headers a GET would
// have (Content-Length included) but no body.
WireResponse BuildResponse(Response response, bool keep_alive, bool head_request, Logger& logger);

}  // namespace commons::http::internal
