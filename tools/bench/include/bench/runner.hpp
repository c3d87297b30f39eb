#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "bench/options.hpp"
#include "bench/report.hpp"
#include "bench/scenario.hpp"

namespace bench {

// Called before each workload's load starts, with a one-line description, for progress output.
using ProgressSink = std::function<void(std::string_view line)>;

// Sets `scenario` up, then loads each of its workloads in turn with `settings`. Stops early
// after a load that a signal interrupted. Throws what Setup or RunLoad throws (notably
// TargetUnreachableError).
RunReport RunScenario(Scenario& scenario, const LoadSettings& settings, std::string label,
                      const ProgressSink& progress);

}  // namespace bench
