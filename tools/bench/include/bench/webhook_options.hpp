#pragma once

// Command line of `bench webhook`.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/options.hpp"
#include "commons/result.hpp"

namespace bench {

// What one scenario fans out: every event it publishes is due once at each of its endpoints.
enum class WebhookScenario { kFanout1, kFanout10 };

std::string_view WebhookScenarioName(WebhookScenario scenario);
// Endpoints the scenario subscribes: 1 or 10.
std::uint32_t EndpointsOf(WebhookScenario scenario);

// "fanout1", "fanout10", a comma-separated list of them, or "all" (both, in that order).
// Repeats are dropped; order is kept.
commons::Result<std::vector<WebhookScenario>, std::string> ParseWebhookScenarios(
    std::string_view text);

// How events reach the webhook service.
enum class PublishPath {
    kStream,  // XADD to the events stream, the way every service's outbox relay publishes
    kApi,     // POST /v1/events
};

// Deliveries one scenario may expect (events × endpoints): the receiver keeps a first-arrival
// time per delivery (8 bytes each) and every event's publish time, so this bounds bench's memory
// to some tens of megabytes. An unpaced run stops publishing when it is reached.
inline constexpr std::uint64_t kWebhookDeliveriesMax = 4'000'000;
// The webhook service's own bound on an endpoint's concurrent deliveries.
inline constexpr std::uint32_t kWebhookMaxInFlightMax = 1000;
// Publishing threads: each holds one Redis or HTTP connection.
inline constexpr std::uint32_t kWebhookPublishersMax = 64;
// Waiting longer for deliveries than this is waiting for retries hours apart.
inline constexpr std::chrono::nanoseconds kWebhookDrainTimeoutMax = std::chrono::minutes(30);
// Bounded like a Redis key a person would type; the stream name goes into every XADD.
inline constexpr std::size_t kStreamNameBytesMax = 200;

struct WebhookCommand {
    // Used: duration, request_timeout, format, label. The other load flags are refused.
    CommonOptions common;
    std::vector<WebhookScenario> scenarios;
    // webhook-service's base URL; requests go to <url>/v1/...
    std::string url = "http://127.0.0.1:8084";
    // Unset: main falls back to PAYMENTS_DEV_API_KEY, PAYMENTS_REDIS_URL and
    // PAYMENTS_EVENTS_STREAM (then "payments.events").
    std::optional<std::string> api_key;
    std::optional<std::string> redis_url;
    std::optional<std::string> stream;
    PublishPath publish = PublishPath::kStream;
    // Events per second offered on a fixed schedule; 0 publishes as fast as the publishers can.
    double rate_per_second = 0;
    std::uint32_t publishers = 4;
    // How long to wait after the last publish for every expected delivery.
    std::chrono::nanoseconds drain_timeout = std::chrono::seconds(60);
    // Sent as each endpoint's max_in_flight; unset leaves the service's default.
    std::optional<std::uint32_t> max_in_flight = 64;
    // The local receiver's port on 127.0.0.1; 0 picks a free one.
    std::uint16_t receiver_port = 0;
    // Processes whose CPU per delivery is reported (--cpu-of; "none" for none).
    std::vector<std::string> cpu_processes = {"webhook-service", "postgres", "redis-server"};
    bool help = false;
};

// Events a scenario with `endpoints` endpoints may publish: rate × duration (plus one per
// publisher, the schedule's rounding) when paced, and whatever fits kWebhookDeliveriesMax
// otherwise; never more than kWebhookDeliveriesMax / endpoints. Precondition: endpoints >= 1.
std::uint64_t WebhookEventsCapacity(double rate_per_second, std::chrono::nanoseconds duration,
                                    std::uint32_t endpoints, std::uint32_t publishers);

// Parses the arguments after "webhook". --scenario is required. --rate takes 0 (unpaced) or
// 0.01 to 1000000 events/s; a paced run whose deliveries would exceed kWebhookDeliveriesMax is
// refused. --concurrency is an alias of --publishers. --warmup, --threads and --seed are refused
// (nothing uses them here). --help sets `help` and skips validation. Does not check the URL or
// whether a key is available: main does, after applying the environment's defaults.
commons::Result<WebhookCommand, UsageError> ParseWebhookCommand(
    std::span<const std::string_view> args);

std::string_view WebhookUsage();

}  // namespace bench
