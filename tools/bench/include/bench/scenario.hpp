#pragma once

// How a load scenario plugs into bench: a scenario prepares whatever it needs, then hands the
// engine one or more workloads, each measured separately with the same LoadSettings.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/http_message.hpp"

namespace bench {

// How one response counts.
enum class Verdict {
    kOk,          // counts as ok
    kHttpError,   // an error by its status code (the default for anything but 2xx)
    kUnexpected,  // the status was fine but the scenario rejects the response (e.g. its body)
};

// Makes the request with global sequence number `seq` (0-based, each used once per run).
// Called concurrently from the load threads: it must be thread-safe and should not block.
using RequestSource = std::function<HttpRequest(std::uint64_t seq)>;

// Judges a response to `request`. Same threading rules as RequestSource.
using ResponseClassifier =
    std::function<Verdict(const HttpRequest& request, const HttpResponse& response)>;

// 2xx is ok, anything else is an HTTP error.
Verdict ClassifyByStatus(const HttpRequest& request, const HttpResponse& response);

// Key-value facts printed with a report (url, method, seed, ...), in order.
using Attributes = std::vector<std::pair<std::string, std::string>>;

// One thing to load: where, what to send, how to judge it.
struct Workload {
    std::string label;
    Endpoint endpoint;
    RequestSource make_request;
    ResponseClassifier classify = ClassifyByStatus;
    Attributes attributes;
};

// A named load scenario. The runner calls Setup once, then loads each of Workloads() in turn;
// the scenario's destructor releases whatever Setup acquired (servers, accounts), also when a
// load throws.
class Scenario {
  public:
    virtual ~Scenario() = default;

    virtual std::string_view name() const = 0;

    // Prepares what the workloads need: starts in-process servers, creates accounts. Throws if
    // it cannot; nothing is loaded then.
    virtual void Setup() {}

    // The workloads to measure, in order. Called once, after Setup.
    virtual std::vector<Workload> Workloads() = 0;

    // Facts about the whole run for the report (seed, unique prefix, ...).
    virtual Attributes attributes() const { return {}; }
};

}  // namespace bench
