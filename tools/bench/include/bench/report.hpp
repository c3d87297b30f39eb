#pragma once

#include <string>
#include <vector>

#include "bench/engine.hpp"
#include "bench/scenario.hpp"

namespace bench {

// Everything one `bench` invocation measured: the scenario, facts about the run, and one
// result per workload.
struct RunReport {
    std::string scenario;
    std::string label;
    Attributes attributes;
    std::vector<LoadResult> results;
};

// Human-readable report, one block per workload. Latencies in milliseconds.
std::string FormatText(const RunReport& report);

// The report as one JSON object (one line, no trailing newline):
//   {"scenario", "label", "attributes": {...}, "results": [{"label", "attributes", "settings",
//    "requests": {...}, "errors": {...}, "status_counts": {...}, "duration_s", "throughput",
//    "rate" (open model only), "latency_ms": {"p50", "p90", "p99", "p99_9", "max", ...}}]}
std::string FormatJson(const RunReport& report);

}  // namespace bench
