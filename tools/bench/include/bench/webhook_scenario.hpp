#pragma once

// `bench webhook`: event delivery through webhook-service, measured at a receiver of bench's
// own (see webhook_options.hpp for the command line and webhook_report.hpp for the output).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/runner.hpp"
#include "bench/webhook_options.hpp"
#include "bench/webhook_report.hpp"

namespace bench {

struct WebhookRunSettings {
    // At least one; run in this order.
    std::vector<WebhookScenario> scenarios;
    // webhook-service's base URL (http or https, no query) and a key with scope webhook:admin.
    std::string url;
    std::string api_key;
    PublishPath publish = PublishPath::kStream;
    // Used with PublishPath::kStream.
    std::string redis_url;
    std::string stream;
    double rate_per_second = 0;  // events/s; 0 unpaced
    std::chrono::nanoseconds duration = std::chrono::seconds(10);
    std::chrono::nanoseconds request_timeout = std::chrono::seconds(5);
    std::chrono::nanoseconds drain_timeout = std::chrono::seconds(60);
    std::uint32_t publishers = 4;
    std::optional<std::uint32_t> max_in_flight;
    std::uint16_t receiver_port = 0;
    std::vector<std::string> cpu_processes;
};

// Starts the receiver, checks webhook-service (GET /health) and Redis (PING) answer, then per
// scenario: subscribes its endpoints (POST /v1/endpoints), sends one priming event and waits
// for it at every endpoint, publishes for `duration`, waits for every delivery (at most
// `drain_timeout` after the last publish), and deletes the endpoints — also when something
// throws. SIGINT or SIGTERM stops publishing and waiting; the scenario is reported as
// interrupted and the remaining ones are skipped.
// Throws TargetUnreachableError when webhook-service or Redis cannot be reached, and
// std::runtime_error when the receiver cannot bind, an endpoint is refused, or the priming
// event does not reach every endpoint in time (with a hint at the likely cause).
WebhookReport RunWebhookScenarios(const WebhookRunSettings& settings, std::string label,
                                  const ProgressSink& progress);

}  // namespace bench
