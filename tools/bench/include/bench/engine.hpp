#pragma once

// The load engine: drives one Workload over HTTP/1.1 keep-alive connections for a warm-up and
// a measured duration, and counts what happened.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "bench/histogram.hpp"
#include "bench/options.hpp"
#include "bench/scenario.hpp"

namespace bench {

// Why a request got no response.
enum class TransportError {
    kConnect,   // could not open a connection (refused, unreachable, connect timeout)
    kTimeout,   // the request deadline passed while writing or reading
    kClosed,    // the server closed or reset the connection before a full response
    kProtocol,  // the response was not valid HTTP/1.1 or exceeded bench's size limits
};
inline constexpr std::size_t kTransportErrorKinds = 4;
std::string_view TransportErrorName(TransportError error);

// Thrown by RunLoad when the target cannot be resolved or connected to before the load starts.
class TargetUnreachableError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// What one load measured. Counts cover requests scheduled (open model) or started (closed
// model) inside the measured window; requests still in flight when it ends are awaited (up to
// their timeout) and counted. After a run: sent == completed + transport errors.
struct LoadResult {
    std::string label;
    Attributes attributes;
    LoadSettings settings;

    std::uint64_t offered = 0;  // open model: requests due in the window
    std::uint64_t dropped = 0;  // open model: due while every connection was busy; not sent
    std::uint64_t sent = 0;
    std::uint64_t completed = 0;   // a full response arrived, whatever its status
    std::uint64_t ok = 0;          // completed and judged kOk
    std::uint64_t unexpected = 0;  // completed with an acceptable status but judged kUnexpected
    std::map<int, std::uint64_t> status_counts;  // completed responses by status code
    std::map<int, std::uint64_t> http_errors;    // responses judged kHttpError, by status code
    std::array<std::uint64_t, kTransportErrorKinds> transport_errors{};

    // Over the whole run, warm-up included: connections opened and failed attempts.
    std::uint64_t connections_opened = 0;
    std::uint64_t connect_failures = 0;

    // The measured window: the duration, or less when interrupted.
    std::chrono::nanoseconds measured{0};
    bool interrupted = false;  // SIGINT or SIGTERM ended the load early

    // Latency of completed responses: from the scheduled time (open model) or from the start
    // of the request (closed model) to the last byte of the response.
    LatencyHistogram latency;

    std::uint64_t transport_error_total() const;
    // Responses not judged ok plus transport errors.
    std::uint64_t errors() const { return completed - ok + transport_error_total(); }
    // Nothing ever answered: no connection could be opened during the whole run.
    bool target_unreachable() const { return connections_opened == 0 && connect_failures > 0; }
};

// Runs `workload` with `settings`: resolves and test-connects to the target (throwing
// TargetUnreachableError if that fails), then loads it for warm-up + duration on
// settings.threads threads and waits for requests in flight. SIGINT/SIGTERM during the load
// ends it early with what was measured so far (a second signal abandons requests in flight).
// Rethrows an exception thrown by the workload's callbacks.
LoadResult RunLoad(const LoadSettings& settings, const Workload& workload);

}  // namespace bench
