#pragma once

// What `bench webhook` prints: per scenario, deliveries/s sustained, missing and duplicate
// deliveries, latency from publish to the first attempt's arrival, CPU per delivery, and how
// that compares with the webhook service's goals.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/cpu_usage.hpp"
#include "bench/scenario.hpp"
#include "bench/webhook_book.hpp"
#include "bench/webhook_receiver.hpp"

namespace bench {

// The webhook service's goals (docs/BENCHMARKS.md, "Webhook").
inline constexpr double kGoalDeliveriesPerSecond = 5000;
inline constexpr double kGoalLatencyAtDeliveriesPerSecond = kGoalDeliveriesPerSecond / 2;
inline constexpr double kGoalLatencyMsP99 = 100;
// How far the achieved publish rate may be from the goal's rate and still count as at it:
// a paced run publishes a whole number of events over a window a little longer than asked.
inline constexpr double kGoalRateTolerance = 0.02;

// One scenario's outcome.
struct WebhookSummaryRow {
    std::string scenario;
    std::uint32_t endpoints = 1;
    // Events/s offered; 0 for an unpaced run.
    double rate_per_second = 0;
    Attributes attributes;  // event type, max_in_flight, ...

    std::uint64_t events_published = 0;  // the publish was not refused
    std::uint64_t publish_failures = 0;  // refused or failed; not expected
    std::uint64_t expected = 0;          // events_published × endpoints
    std::uint64_t received = 0;          // distinct (event, endpoint) that arrived
    std::uint64_t missing = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t mismatched_event_ids = 0;
    std::uint64_t unexpected = 0;

    double publish_s = 0;         // from the start of publishing until every publisher stopped
    double span_s = 0;            // from the first publish to the last first arrival
    double drain_s = 0;           // from the last publish to the last first arrival
    double events_per_s = 0;      // events_published / publish_s: the achieved publish rate
    double deliveries_per_s = 0;  // received / span_s: sustained
    bool drained = false;         // every expected delivery arrived before the wait ended
    bool interrupted = false;     // a signal ended publishing or the wait early

    // Publish to first arrival, of every delivery received.
    std::uint64_t latency_count = 0;
    double latency_ms_p50 = 0;
    double latency_ms_p90 = 0;
    double latency_ms_p99 = 0;
    double latency_ms_max = 0;
    double latency_ms_mean = 0;

    // CPU of the watched processes from the start of publishing until the wait ended.
    std::optional<CpuUsage> cpu;

    // Deliveries/s the publishers offered: events_per_s × endpoints.
    double offered_deliveries_per_s() const { return events_per_s * endpoints; }
    // `cpu_seconds` spread over the deliveries received, in microseconds; 0 without any.
    double MicrosPerDelivery(double cpu_seconds) const;
};

// Fills a row from a finished scenario's book. `publish_s` is how long publishing took;
// `rate_per_second` is the offered rate (0 unpaced). `drained` and `interrupted` are left to
// the caller, who knows how the wait ended.
WebhookSummaryRow SummarizeWebhookScenario(std::string scenario, const DeliveryBook& book,
                                           double rate_per_second, double publish_s,
                                           std::uint64_t publish_failures);

enum class GoalVerdict {
    kMet,
    kMissed,
    kNotJudged,  // the run's load does not say (e.g. paced below the goal's rate)
};
std::string_view GoalVerdictName(GoalVerdict verdict);  // "met", "missed", "not judged"

struct GoalCheck {
    std::string goal;  // "deliveries_per_s >= 5000", "p99_ms <= 100 at 2500 deliveries/s"
    GoalVerdict verdict = GoalVerdict::kNotJudged;
    std::string reason;
};

// Judges `row` against the two goals:
// - throughput: met when it sustained >= 5000 deliveries/s with nothing missing; missed when
//   the publishers offered at least that (so the service, not bench, fell short); else not
//   judged.
// - latency: met when p99 <= 100 ms with nothing missing at an offered rate of at least
//   2500 deliveries/s (within kGoalRateTolerance); missed when p99 > 100 ms or deliveries went
//   missing at an offered rate of at most 2500/s (within the tolerance); else not judged.
std::vector<GoalCheck> JudgeWebhookGoals(const WebhookSummaryRow& row);

struct WebhookReport {
    std::string label;
    Attributes attributes;  // run id, url, publish path, stream, receiver, publishers, ...
    std::vector<WebhookSummaryRow> rows;
    ReceiverCounters receiver;
};

// One block per scenario, then a summary table, a CPU-per-delivery table when CPU was
// watched, and the goals. Ends with a newline.
std::string FormatWebhookText(const WebhookReport& report);

// One line of JSON: {"scenario": "webhook", "label", "attributes", "receiver": {"stray",
// "malformed"}, "summary": [{"scenario", "endpoints", "rate_per_second" (null unpaced),
// "attributes", "events_published", "publish_failures", "deliveries": {"expected",
// "received", "missing", "duplicates", "mismatched_event_ids", "unexpected"}, "publish_s",
// "span_s", "drain_s", "events_per_s", "deliveries_per_s", "drained", "interrupted",
// "latency_ms": {"count", "p50", "p90", "p99", "max", "mean"}, "cpu" (when watched):
// {"window_s", "busy_share", "steal_share", "micros_per_delivery": {<process>..., "total"}},
// "goals": [{"goal", "verdict", "reason"}]}]}.
std::string FormatWebhookJson(const WebhookReport& report);

}  // namespace bench
