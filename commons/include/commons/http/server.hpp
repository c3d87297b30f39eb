#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "commons/http/router.hpp"
#include "commons/http/types.hpp"

namespace commons {
class BlockingPool;
class Logger;
}  // namespace commons

namespace commons::http {

struct ServerSettings {
    std::string address = "0.0.0.0";
    std::uint16_t port = 0;  // 0: any free port (tests)
    std::size_t io_threads = 2;
    // Request line plus headers. Beyond it: 431.
    std::size_t header_bytes_max = std::size_t{16} * 1024;
    // Beyond it: 413. Services with bigger batch endpoints raise it in their settings.
    std::size_t body_bytes_max = std::size_t{1024} * 1024;
    // A connection with no request started within this time is closed.
    std::chrono::milliseconds idle_timeout{60'000};
    // The request line and headers must arrive within this time once the first byte has.
    std::chrono::milliseconds header_timeout{10'000};
    // The body must arrive within this time after the headers.
    std::chrono::milliseconds body_timeout{30'000};
    // The response must be written within this time.
    std::chrono::milliseconds write_timeout{30'000};
    // Handler budget, passed as Request::deadline.
    std::chrono::milliseconds request_timeout{30'000};
    // Graceful shutdown waits at most this long for in-flight requests.
    std::chrono::milliseconds drain_timeout{15'000};
    // Connections beyond this are closed right after accept.
    std::size_t connections_max = 4096;
};

// A Beast HTTP/1.1 server on C++20 coroutines. Each request is parsed with the size and time
// limits of ServerSettings, routed, and run through `pipeline` (middlewares, first is
// outermost) and then the route's handler: on the io thread for Execution::kInline routes, on
// `blocking_pool` otherwise. Unknown paths answer 404 and known paths with another method
// 405, both as JSON errors and both through the pipeline. Anything a handler throws becomes a
// JSON 500 (the error-boundary middleware normally catches it first).
class Server {
  public:
    Server(ServerSettings settings, const Router& router, std::vector<Middleware> pipeline,
           BlockingPool& blocking_pool, Logger& logger);
    ~Server();  // calls Stop()
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds, listens and starts the io threads. Returns the bound port. Throws
    // std::system_error when the address cannot be bound.
    std::uint16_t Start();

    // Graceful shutdown: stops accepting, closes idle connections, lets in-flight requests
    // finish (their responses say Connection: close) for at most drain_timeout, then closes
    // the rest and waits (at most request_timeout more) for their handlers to return, since
    // they use this server. A handler stuck past that ends the process with status 1 rather
    // than run on freed memory; PostgreSQL rolls its transaction back.
    // Idempotent; returns when the io threads have exited.
    void Stop();

    std::size_t open_connections() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace commons::http
