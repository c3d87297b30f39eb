#include "bench/webhook_options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "commons/assert.hpp"
#include "commons/text.hpp"

namespace bench {
namespace {

constexpr WebhookScenario kAllWebhookScenarios[] = {WebhookScenario::kFanout1,
                                                    WebhookScenario::kFanout10};

commons::Result<std::uint32_t, UsageError> CountValue(std::string_view flag, std::string_view value,
                                                      std::uint32_t low, std::uint32_t high) {
    const auto parsed = ParseNumber<std::uint32_t>(value);
    if (!parsed || *parsed < low || *parsed > high) {
        return UsageError{"--" + std::string(flag) + " " + std::string(value) +
                          ": expected a whole number from " + std::to_string(low) + " to " +
                          std::to_string(high)};
    }
    return *parsed;
}

bool IsValidStreamName(std::string_view name) {
    if (name.empty() || name.size() > kStreamNameBytesMax) return false;
    return std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c != '\x7f'; });
}

}  // namespace

std::string_view WebhookScenarioName(WebhookScenario scenario) {
    switch (scenario) {
        case WebhookScenario::kFanout1:
            return "fanout1";
        case WebhookScenario::kFanout10:
            return "fanout10";
    }
    PAY_ASSERT(false);
    return "";
}

std::uint32_t EndpointsOf(WebhookScenario scenario) {
    switch (scenario) {
        case WebhookScenario::kFanout1:
            return 1;
        case WebhookScenario::kFanout10:
            return 10;
    }
    PAY_ASSERT(false);
    return 0;
}

commons::Result<std::vector<WebhookScenario>, std::string> ParseWebhookScenarios(
    std::string_view text) {
    std::vector<WebhookScenario> scenarios;
    const auto add = [&scenarios](WebhookScenario scenario) {
        if (std::find(scenarios.begin(), scenarios.end(), scenario) == scenarios.end()) {
            scenarios.push_back(scenario);
        }
    };
    for (const std::string_view name : commons::Split(text, ',')) {
        if (name == "all") {
            for (WebhookScenario scenario : kAllWebhookScenarios) add(scenario);
            continue;
        }
        const auto* found =
            std::find_if(std::begin(kAllWebhookScenarios), std::end(kAllWebhookScenarios),
                         [name](WebhookScenario s) { return WebhookScenarioName(s) == name; });
        if (found == std::end(kAllWebhookScenarios)) {
            return "unknown scenario \"" + std::string(name) +
                   "\"; expected fanout1, fanout10 or all (comma-separated)";
        }
        add(*found);
    }
    return scenarios;
}

std::uint64_t WebhookEventsCapacity(double rate_per_second, std::chrono::nanoseconds duration,
                                    std::uint32_t endpoints, std::uint32_t publishers) {
    PAY_ASSERT(endpoints >= 1);
    const std::uint64_t ceiling = kWebhookDeliveriesMax / endpoints;
    if (rate_per_second <= 0) return ceiling;
    const double seconds = std::chrono::duration<double>(duration).count();
    const double events = std::ceil(rate_per_second * seconds) + publishers;
    if (events >= static_cast<double>(ceiling)) return ceiling;
    return static_cast<std::uint64_t>(events);
}

commons::Result<WebhookCommand, UsageError> ParseWebhookCommand(
    std::span<const std::string_view> args) {
    WebhookCommand command;
    bool scenario_given = false;
    ArgReader reader(args);
    while (!reader.done()) {
        auto flag_result = reader.NextFlag();
        if (!flag_result) return flag_result.error();
        const std::string_view flag = flag_result.value();
        if (flag == "help") {
            command.help = true;
            return command;
        }
        if (flag == "warmup" || flag == "threads" || flag == "seed") {
            return UsageError{"--" + std::string(flag) +
                              " does not apply to `bench webhook`: each scenario is primed with "
                              "one event per endpoint, publishers are threads (--publishers), "
                              "and nothing is drawn at random"};
        }
        // The load engine's --rate is requests/s from 0.01; here it is events/s and 0 means
        // unpaced, and --concurrency counts publishers, so both are read here.
        if (flag != "rate" && flag != "concurrency" && flag != "connections") {
            auto common = ParseCommonFlag(flag, reader, command.common);
            if (!common) return common.error();
            if (common.value()) continue;
        }

        auto value_result = reader.Value();
        if (!value_result) return value_result.error();
        const std::string_view value = value_result.value();
        if (flag == "scenario") {
            auto scenarios = ParseWebhookScenarios(value);
            if (!scenarios) return UsageError{"--scenario: " + scenarios.error()};
            command.scenarios = std::move(scenarios).value();
            scenario_given = true;
        } else if (flag == "rate") {
            const auto rate = ParseNumber<double>(value);
            if (!rate || !std::isfinite(*rate) ||
                (*rate != 0 && (*rate < kRatePerSecondMin || *rate > kRatePerSecondMax))) {
                return UsageError{"--rate " + std::string(value) +
                                  ": expected events per second, 0 (as fast as possible) or "
                                  "from 0.01 to 1000000"};
            }
            command.rate_per_second = *rate;
        } else if (flag == "publishers" || flag == "concurrency" || flag == "connections") {
            auto count = CountValue(flag, value, 1, kWebhookPublishersMax);
            if (!count) return count.error();
            command.publishers = count.value();
        } else if (flag == "publish") {
            if (value == "stream") {
                command.publish = PublishPath::kStream;
            } else if (value == "api") {
                command.publish = PublishPath::kApi;
            } else {
                return UsageError{"--publish " + std::string(value) + ": expected stream or api"};
            }
        } else if (flag == "url") {
            command.url = std::string(value);
        } else if (flag == "api-key") {
            command.api_key = std::string(value);
        } else if (flag == "redis-url") {
            command.redis_url = std::string(value);
        } else if (flag == "stream") {
            if (!IsValidStreamName(value)) {
                return UsageError{
                    "--stream: expected a stream name of 1 to 200 characters "
                    "without spaces or control characters"};
            }
            command.stream = std::string(value);
        } else if (flag == "drain-timeout") {
            const auto timeout = ParseDuration(value);
            if (!timeout || *timeout < std::chrono::seconds(1) ||
                *timeout > kWebhookDrainTimeoutMax) {
                return UsageError{"--drain-timeout " + std::string(value) +
                                  ": expected a duration from 1s to 30m such as 30s, 2m"};
            }
            command.drain_timeout = *timeout;
        } else if (flag == "max-in-flight") {
            if (value == "default") {
                command.max_in_flight.reset();
            } else {
                auto count = CountValue(flag, value, 1, kWebhookMaxInFlightMax);
                if (!count) {
                    return UsageError{count.error().message + ", or default (the service's)"};
                }
                command.max_in_flight = count.value();
            }
        } else if (flag == "receiver-port") {
            auto port = CountValue(flag, value, 0, 65535);
            if (!port) return port.error();
            command.receiver_port = static_cast<std::uint16_t>(port.value());
        } else if (flag == "cpu-of") {
            auto names = ParseCpuOf(value);
            if (!names) return names.error();
            command.cpu_processes = std::move(names).value();
        } else {
            return UsageError{"unknown flag --" + std::string(flag) +
                              " for `bench webhook`; see bench webhook --help"};
        }
    }
    if (!scenario_given) {
        return UsageError{"--scenario is required, e.g. --scenario all or --scenario fanout10"};
    }
    if (command.rate_per_second > 0) {
        for (WebhookScenario scenario : command.scenarios) {
            const double deliveries =
                command.rate_per_second *
                std::chrono::duration<double>(command.common.load.duration).count() *
                EndpointsOf(scenario);
            if (deliveries > static_cast<double>(kWebhookDeliveriesMax)) {
                return UsageError{
                    "--rate × --duration: " + std::string(WebhookScenarioName(scenario)) +
                    " would expect more than " + std::to_string(kWebhookDeliveriesMax) +
                    " deliveries; shorten the run or lower the rate"};
            }
        }
    }
    return command;
}

std::string_view WebhookUsage() {
    return R"(usage: bench webhook --scenario LIST [flags]

Measures event delivery through webhook-service: bench starts its own HTTP receiver on
127.0.0.1, subscribes endpoints pointing at it through POST /v1/endpoints, publishes events
(XADD to the events stream, as the services' outbox relays do, or POST /v1/events) at --rate
for --duration, then waits until every expected delivery arrived or --drain-timeout passed.
Reports deliveries/s sustained (deliveries received over the time from the first publish to
the last arrival), missing and duplicate deliveries, latency from publish to the first
attempt's arrival, and CPU per delivery. Deletes its endpoints at the end.

scenarios (--scenario, comma-separated, or all):
  fanout1     one endpoint: one delivery per event
  fanout10    ten endpoints subscribed to the same type: ten deliveries per event
  all         both, in this order

Each scenario has its own event type (bench.<run>.<scenario>.created) and subscribes
bench.<run>.<scenario>.*, so endpoints of other runs get none of its events. Before publishing,
one priming event per scenario must reach every endpoint (within --drain-timeout), which checks
the setup and warms the service's connections; it is not measured.

Start webhook-service with PAYMENTS_WEBHOOK_ALLOW_PRIVATE_TARGETS=1 and
PAYMENTS_WEBHOOK_ALLOW_HTTP=1 (the receiver is plain http on 127.0.0.1), and with the same
PAYMENTS_EVENTS_STREAM as bench's --stream.

webhook:
  --url URL            webhook-service base URL                        [http://127.0.0.1:8084]
  --api-key KEY        bearer key with scope webhook:admin             [$PAYMENTS_DEV_API_KEY]
  --publish PATH       stream: XADD to --stream; api: POST /v1/events  [stream]
  --redis-url URL      Redis for --publish stream                      [$PAYMENTS_REDIS_URL]
  --stream NAME        the events stream        [$PAYMENTS_EVENTS_STREAM, else payments.events]
  --rate R             events/s offered on a fixed schedule; 0: as fast as possible     [0]
                       (deliveries/s offered = R × endpoints)
  --duration D         publishing time                                 [10s, max 1h]
  --publishers N       publishing threads, one connection each (alias --concurrency)
                                                                       [4, max 64]
  --timeout D          one XADD or POST: deadline                      [5s]
  --drain-timeout D    wait after the last publish for every delivery  [60s, 1s to 30m]
  --max-in-flight N    each endpoint's max_in_flight, or default       [64, 1 to 1000]
  --receiver-port N    the receiver's port on 127.0.0.1                [0: any free port]
  --cpu-of LIST        processes whose CPU per delivery is reported, by command name, or
                       none           [webhook-service,postgres,redis-server]
                       Also reported: the machine's busy and steal shares over the window.
output:
  --json               print one JSON object instead of text
  --label NAME         name this run in the report

goals shown with each report: >= 5000 deliveries/s sustained (judged unpaced, or when met),
and p99 publish -> first attempt <= 100 ms at 2500 deliveries/s (judged met when the p99 holds
at that rate or above, missed when it fails at that rate or below).

)";
}

}  // namespace bench
