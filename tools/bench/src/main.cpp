// Composition root of bench, the project's HTTP load generator: reads the command line, builds
// the scenario, runs it and prints the report.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/engine.hpp"
#include "bench/http_scenario.hpp"
#include "bench/ledger_options.hpp"
#include "bench/ledger_report.hpp"
#include "bench/ledger_scenario.hpp"
#include "bench/options.hpp"
#include "bench/pipeline_scenario.hpp"
#include "bench/report.hpp"
#include "bench/request_template.hpp"
#include "bench/runner.hpp"
#include "bench/template.hpp"
#include "bench/webhook_options.hpp"
#include "bench/webhook_report.hpp"
#include "bench/webhook_scenario.hpp"
#include "commons/http/client.hpp"

namespace {

// Exit codes. 0 means the load ran, whatever the server answered: bench reports, it does not
// judge (use --json and a script for that).
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;      // a scenario failed to set up or run
constexpr int kExitUsage = 2;        // bad command line
constexpr int kExitUnreachable = 3;  // the target could not be connected to

// File descriptors kept for stdio, the resolver and whatever a scenario opens.
constexpr rlim_t kSpareFileDescriptors = 64;
// bench ledger's setup connections (16 for accounts, one for the naive schema), with room.
constexpr std::uint32_t kLedgerSetupFileDescriptors = 32;
// bench webhook's receiver takes the service's delivery connections (PAYMENTS_WEBHOOK_CONCURRENCY,
// at most 1024), plus the admin API's, Redis's and the publishers'.
constexpr std::uint32_t kWebhookFileDescriptors = 1024 + 32;

std::string_view TopUsage() {
    return R"(usage: bench <scenario> [flags]

scenarios:
  http        load one URL with a request template (bench http --help)
  pipeline    the standard middleware pipeline against a bare server, same route
  ledger      ledger transfers through ledger-service and the naive way in PostgreSQL,
              side by side (bench ledger --help)
  webhook     event delivery through webhook-service to a receiver of bench's own:
              deliveries/s, publish-to-arrival latency, missing and duplicate deliveries
              (bench webhook --help)

exit status: 0 the load ran (see the report for errors), 1 a scenario failed,
             2 bad command line, 3 the target was unreachable
)";
}

int UsageFailure(std::string_view scenario, std::string_view message) {
    std::fprintf(stderr, "bench %.*s: %.*s\n", static_cast<int>(scenario.size()), scenario.data(),
                 static_cast<int>(message.size()), message.data());
    return kExitUsage;
}

// Every connection is a socket; raise the soft limit up to the hard one if needed.
std::optional<std::string> EnsureFileDescriptors(std::uint32_t connections) {
    const rlim_t needed = connections + kSpareFileDescriptors;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nullopt;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= needed) return std::nullopt;
    if (limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
        return std::to_string(connections) + " connections need " + std::to_string(needed) +
               " file descriptors; the hard limit (ulimit -Hn) is " +
               std::to_string(limit.rlim_max);
    }
    limit.rlim_cur = needed;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return "cannot raise the open file limit to " + std::to_string(needed);
    }
    return std::nullopt;
}

std::optional<std::string> ReadBodyFile(const std::string& path, std::string& body) {
    std::ifstream file(path, std::ios::binary);
    if (!file) return "cannot open --body-file " + path;
    body.assign(std::istreambuf_iterator<char>(file), {});
    // Read first, then check: a regular file's size is what was read.
    if (body.size() > bench::kBodyBytesMax) {
        return "--body-file " + path + " is larger than " + std::to_string(bench::kBodyBytesMax) +
               " bytes";
    }
    if (file.bad()) return "cannot read --body-file " + path;
    return std::nullopt;
}

// Runs `scenario` and prints its report; shared by every scenario's command.
int RunAndReport(bench::Scenario& scenario, const bench::CommonOptions& options) {
    if (auto problem = EnsureFileDescriptors(options.load.connections)) {
        return UsageFailure(scenario.name(), *problem);
    }
    bench::RunReport report;
    try {
        report = bench::RunScenario(
            scenario, options.load, options.label, [&scenario](std::string_view line) {
                std::cerr << "bench " << scenario.name() << ": " << line << std::endl;
            });
    } catch (const bench::TargetUnreachableError& error) {
        std::cerr << "bench " << scenario.name() << ": target unreachable: " << error.what()
                  << std::endl;
        return kExitUnreachable;
    } catch (const std::exception& error) {
        std::cerr << "bench " << scenario.name() << ": failed: " << error.what() << std::endl;
        return kExitFailure;
    }
    if (options.format == bench::OutputFormat::kJson) {
        std::cout << bench::FormatJson(report) << std::endl;
    } else {
        std::cout << bench::FormatText(report) << std::flush;
    }
    for (const bench::LoadResult& result : report.results) {
        if (result.target_unreachable()) {
            std::cerr << "bench " << scenario.name() << ": " << result.label
                      << ": no connection could be opened during the load" << std::endl;
            return kExitUnreachable;
        }
    }
    return kExitOk;
}

// The environment's value of `name`, if set and not empty. Only main reads the environment.
std::optional<std::string> Environment(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
}

std::uint64_t SeedOrRandom(const std::optional<std::uint64_t>& seed) {
    if (seed) return *seed;
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

int RunHttp(std::span<const std::string_view> args) {
    auto parsed = bench::ParseHttpCommand(args);
    if (!parsed) return UsageFailure("http", parsed.error().message);
    bench::HttpCommand command = std::move(parsed).value();
    if (command.help) {
        std::cout << bench::HttpUsage() << bench::CommonFlagsHelp();
        return kExitOk;
    }
    auto url = bench::ParseHttpUrl(command.url);
    if (!url) return UsageFailure("http", "--url: " + url.error());
    if (command.body_file) {
        if (auto problem = ReadBodyFile(*command.body_file, command.body)) {
            return UsageFailure("http", *problem);
        }
    }
    auto request = bench::RequestTemplate::Parse(command.method, url.value().target,
                                                 command.headers, command.body);
    if (!request) return UsageFailure("http", request.error());

    bench::HttpScenario scenario(std::move(url).value(), command.url, std::move(request).value(),
                                 bench::MakeTemplateRun(SeedOrRandom(command.common.seed)),
                                 command.common.label);
    return RunAndReport(scenario, command.common);
}

int RunPipeline(std::span<const std::string_view> args) {
    bench::CommonOptions options;
    bench::ArgReader reader(args);
    while (!reader.done()) {
        auto flag = reader.NextFlag();
        if (!flag) return UsageFailure("pipeline", flag.error().message);
        if (flag.value() == "help") {
            std::cout << "usage: bench pipeline [common flags]\n\n"
                         "Starts two in-process servers answering GET /v1/ping, one through the\n"
                         "standard middleware pipeline and one bare, and loads each in turn.\n\n"
                      << bench::CommonFlagsHelp();
            return kExitOk;
        }
        auto common = bench::ParseCommonFlag(flag.value(), reader, options);
        if (!common) return UsageFailure("pipeline", common.error().message);
        if (!common.value()) {
            return UsageFailure("pipeline", "unknown flag --" + std::string(flag.value()));
        }
    }
    bench::PipelineScenario scenario;
    return RunAndReport(scenario, options);
}

int RunLedger(std::span<const std::string_view> args) {
    auto parsed = bench::ParseLedgerCommand(args);
    if (!parsed) return UsageFailure("ledger", parsed.error().message);
    bench::LedgerCommand command = std::move(parsed).value();
    if (command.help) {
        std::cout << bench::LedgerUsage() << bench::CommonFlagsHelp();
        return kExitOk;
    }
    const auto& scenarios = command.scenarios;
    const bool service = std::any_of(scenarios.begin(), scenarios.end(),
                                     [](bench::LedgerScenario s) { return !bench::IsNaive(s); });
    const bool naive = std::any_of(scenarios.begin(), scenarios.end(), bench::IsNaive);

    bench::LedgerRunSettings settings;
    settings.scenarios = scenarios;
    if (service) {
        auto url = bench::ParseHttpUrl(command.url);
        if (!url) return UsageFailure("ledger", "--url: " + url.error());
        if (url.value().target.find('?') != std::string::npos) {
            return UsageFailure("ledger", "--url is ledger-service's base URL, without a query");
        }
        settings.url = std::move(url).value();
        settings.url_text = command.url;
        auto key = command.api_key ? command.api_key : Environment("PAYMENTS_DEV_API_KEY");
        if (!key) {
            return UsageFailure("ledger",
                                "--api-key is required for uniform, hot and batch (or set "
                                "PAYMENTS_DEV_API_KEY)");
        }
        settings.api_key = *key;
    }
    if (naive) {
        auto url =
            command.database_url ? command.database_url : Environment("PAYMENTS_DATABASE_URL");
        if (!url) {
            return UsageFailure("ledger",
                                "--database-url is required for naive and naive-hot (or set "
                                "PAYMENTS_DATABASE_URL)");
        }
        settings.database_url = *url;
        settings.naive_schema = command.naive_schema;
    }
    settings.plan.run = bench::MakeTemplateRun(SeedOrRandom(command.common.seed));
    settings.plan.accounts = command.accounts;
    settings.plan.batch_size = command.batch_size;
    settings.cpu_processes = command.cpu_processes;

    if (auto problem =
            EnsureFileDescriptors(command.common.load.connections + kLedgerSetupFileDescriptors)) {
        return UsageFailure("ledger", *problem);
    }
    bench::LedgerRunReport run;
    try {
        run = bench::RunLedgerScenarios(
            settings, command.common.load, command.common.label,
            [](std::string_view line) { std::cerr << "bench ledger: " << line << std::endl; });
    } catch (const bench::TargetUnreachableError& error) {
        std::cerr << "bench ledger: target unreachable: " << error.what() << std::endl;
        return kExitUnreachable;
    } catch (const std::exception& error) {
        std::cerr << "bench ledger: failed: " << error.what() << std::endl;
        return kExitFailure;
    }
    if (command.common.format == bench::OutputFormat::kJson) {
        std::cout << bench::FormatLedgerJson(run.report, run.rows, run.ratios) << std::endl;
    } else {
        std::cout << bench::FormatText(run.report)
                  << bench::FormatLedgerSummaryText(run.rows, run.ratios) << std::flush;
    }
    for (const bench::LoadResult& result : run.report.results) {
        if (result.target_unreachable()) {
            std::cerr << "bench ledger: " << result.label
                      << ": no connection could be opened during the load" << std::endl;
            return kExitUnreachable;
        }
    }
    return kExitOk;
}

int RunWebhook(std::span<const std::string_view> args) {
    auto parsed = bench::ParseWebhookCommand(args);
    if (!parsed) return UsageFailure("webhook", parsed.error().message);
    bench::WebhookCommand command = std::move(parsed).value();
    if (command.help) {
        std::cout << bench::WebhookUsage();
        return kExitOk;
    }
    auto url = commons::http::ParseUrl(command.url);
    if (!url)
        return UsageFailure("webhook", "--url " + command.url + ": expected http(s)://host[:port]");
    if (url->target.find('?') != std::string::npos) {
        return UsageFailure("webhook", "--url is webhook-service's base URL, without a query");
    }
    bench::WebhookRunSettings settings;
    settings.scenarios = command.scenarios;
    settings.url = command.url;
    auto key = command.api_key ? command.api_key : Environment("PAYMENTS_DEV_API_KEY");
    if (!key) {
        return UsageFailure("webhook",
                            "--api-key is required (a key with scope webhook:admin), or set "
                            "PAYMENTS_DEV_API_KEY");
    }
    settings.api_key = *key;
    settings.publish = command.publish;
    if (command.publish == bench::PublishPath::kStream) {
        auto redis = command.redis_url ? command.redis_url : Environment("PAYMENTS_REDIS_URL");
        if (!redis) {
            return UsageFailure("webhook",
                                "--redis-url is required to publish to the stream (or set "
                                "PAYMENTS_REDIS_URL, or use --publish api)");
        }
        settings.redis_url = *redis;
        settings.stream = command.stream
                              ? *command.stream
                              : Environment("PAYMENTS_EVENTS_STREAM").value_or("payments.events");
    }
    settings.rate_per_second = command.rate_per_second;
    settings.duration = command.common.load.duration;
    settings.request_timeout = command.common.load.request_timeout;
    settings.drain_timeout = command.drain_timeout;
    settings.publishers = command.publishers;
    settings.max_in_flight = command.max_in_flight;
    settings.receiver_port = command.receiver_port;
    settings.cpu_processes = command.cpu_processes;

    if (auto problem = EnsureFileDescriptors(command.publishers + kWebhookFileDescriptors)) {
        return UsageFailure("webhook", *problem);
    }
    bench::WebhookReport report;
    try {
        report = bench::RunWebhookScenarios(
            settings, command.common.label,
            [](std::string_view line) { std::cerr << "bench webhook: " << line << std::endl; });
    } catch (const bench::TargetUnreachableError& error) {
        std::cerr << "bench webhook: target unreachable: " << error.what() << std::endl;
        return kExitUnreachable;
    } catch (const std::exception& error) {
        std::cerr << "bench webhook: failed: " << error.what() << std::endl;
        return kExitFailure;
    }
    if (command.common.format == bench::OutputFormat::kJson) {
        std::cout << bench::FormatWebhookJson(report) << std::endl;
    } else {
        std::cout << bench::FormatWebhookText(report) << std::flush;
    }
    return kExitOk;
}

struct Command {
    std::string_view name;
    int (*run)(std::span<const std::string_view> args);
};

// Scenarios, by the first argument. A new scenario adds a line here.
constexpr Command kCommands[] = {
    {"http", RunHttp},
    {"pipeline", RunPipeline},
    {"ledger", RunLedger},
    {"webhook", RunWebhook},
};

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        (args.empty() ? std::cerr : std::cout) << TopUsage();
        return args.empty() ? kExitUsage : kExitOk;
    }
    for (const Command& command : kCommands) {
        if (args[0] == command.name) {
            return command.run(std::span<const std::string_view>(args).subspan(1));
        }
    }
    std::cerr << "bench: unknown scenario \"" << args[0] << "\"\n" << TopUsage();
    return kExitUsage;
}
