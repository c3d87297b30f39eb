#include "bench/runner.hpp"

#include <cstdio>

#include "bench/engine.hpp"

namespace bench {
namespace {

std::string Describe(const Workload& workload, const LoadSettings& settings) {
    std::string line = "loading " + workload.label + " with " +
                       std::to_string(settings.connections) + " connections";
    if (settings.rate_per_second) {
        char rate[32];
        std::snprintf(rate, sizeof rate, "%g", *settings.rate_per_second);
        line += std::string(" at ") + rate + " req/s offered";
    }
    line += ": warm-up " + FormatDuration(settings.warmup) + ", then " +
            FormatDuration(settings.duration) + " measured";
    return line;
}

}  // namespace

RunReport RunScenario(Scenario& scenario, const LoadSettings& settings, std::string label,
                      const ProgressSink& progress) {
    scenario.Setup();
    RunReport report{std::string(scenario.name()), std::move(label), scenario.attributes(), {}};
    for (const Workload& workload : scenario.Workloads()) {
        if (progress) progress(Describe(workload, settings));
        LoadResult result = RunLoad(settings, workload);
        const bool interrupted = result.interrupted;
        report.results.push_back(std::move(result));
        if (interrupted) break;
    }
    return report;
}

}  // namespace bench
