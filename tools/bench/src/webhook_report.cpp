#include "bench/webhook_report.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace bench {
namespace {

double Millis(std::uint64_t micros) { return static_cast<double>(micros) / 1000.0; }

double Seconds(Micros micros) { return static_cast<double>(micros) / 1e6; }

std::string Fixed(double value, int decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

std::string Count(std::uint64_t value) { return std::to_string(value); }

std::string RateText(double rate_per_second) {
    return rate_per_second > 0 ? Fixed(rate_per_second, 1) + " events/s offered"
                               : std::string("unpaced (as fast as the publishers go)");
}

// Appends "  key         value\n" with the key padded like bench's other reports.
void Line(std::string& out, std::string_view key, const std::string& value) {
    out += "  ";
    out += key;
    out.append(12 - std::min<std::size_t>(key.size(), 11), ' ');
    out += value;
    out += '\n';
}

// Why not every expected delivery arrived, if so.
std::string DrainNote(const WebhookSummaryRow& row) {
    if (row.drained) return "";
    return row.interrupted ? " (interrupted before every delivery arrived)"
                           : " (the drain timeout passed first)";
}

std::string CpuText(const WebhookSummaryRow& row) {
    std::string text = "per delivery (us):";
    for (const auto& [name, seconds] : row.cpu->process_seconds) {
        text += " " + name + " " + Fixed(row.MicrosPerDelivery(seconds), 1) + ",";
    }
    text += " total " + Fixed(row.MicrosPerDelivery(row.cpu->total_process_seconds()), 1) +
            "; busy " + Fixed(row.cpu->busy_share * 100, 1) + "%, steal " +
            Fixed(row.cpu->steal_share * 100, 1) + "% over " + Fixed(row.cpu->window_s, 2) + "s";
    return text;
}

std::string GoalsText(const std::vector<GoalCheck>& goals) {
    std::string text;
    for (const GoalCheck& check : goals) {
        if (!text.empty()) text += "; ";
        text += check.goal + ": " + std::string(GoalVerdictName(check.verdict)) + " (" +
                check.reason + ")";
    }
    return text;
}

void AppendRowText(const WebhookSummaryRow& row, std::string& out) {
    out += "== " + row.scenario + " ==\n";
    for (const auto& [key, value] : row.attributes) Line(out, key, value);
    Line(out, "publish",
         RateText(row.rate_per_second) + "; published " + Count(row.events_published) + " in " +
             Fixed(row.publish_s, 2) + "s (" + Fixed(row.events_per_s, 1) + " events/s, " +
             Fixed(row.offered_deliveries_per_s(), 1) + " deliveries/s), failed " +
             Count(row.publish_failures) + (row.interrupted ? " (interrupted)" : ""));
    Line(out, "deliveries",
         "expected " + Count(row.expected) + ", received " + Count(row.received) + ", missing " +
             Count(row.missing) + ", duplicates " + Count(row.duplicates) + ", unexpected " +
             Count(row.unexpected) + ", mismatched ids " + Count(row.mismatched_event_ids) +
             DrainNote(row));
    Line(out, "throughput",
         Fixed(row.deliveries_per_s, 1) + " deliveries/s sustained (" + Count(row.received) +
             " over " + Fixed(row.span_s, 3) +
             "s from the first publish to the last arrival); last arrival " +
             Fixed(row.drain_s, 3) + "s after the last publish");
    if (row.latency_count == 0) {
        Line(out, "latency ms", "no deliveries");
    } else {
        Line(out, "latency ms",
             "p50 " + Fixed(row.latency_ms_p50, 3) + "  p90 " + Fixed(row.latency_ms_p90, 3) +
                 "  p99 " + Fixed(row.latency_ms_p99, 3) + "  max " + Fixed(row.latency_ms_max, 3) +
                 "  mean " + Fixed(row.latency_ms_mean, 3) + "  (publish to first attempt)");
    }
    if (row.cpu) Line(out, "cpu", CpuText(row));
    Line(out, "goals", GoalsText(JudgeWebhookGoals(row)));
}

}  // namespace

double WebhookSummaryRow::MicrosPerDelivery(double cpu_seconds) const {
    if (received == 0) return 0;
    return cpu_seconds / static_cast<double>(received) * 1e6;
}

WebhookSummaryRow SummarizeWebhookScenario(std::string scenario, const DeliveryBook& book,
                                           double rate_per_second, double publish_s,
                                           std::uint64_t publish_failures) {
    WebhookSummaryRow row;
    row.scenario = std::move(scenario);
    row.endpoints = book.endpoints();
    row.rate_per_second = rate_per_second;
    row.events_published = book.events_published();
    row.publish_failures = publish_failures;
    row.expected = book.expected();
    row.received = book.received();
    row.missing = book.missing();
    row.duplicates = book.duplicates();
    row.mismatched_event_ids = book.mismatched_event_ids();
    row.unexpected = book.unexpected();
    row.publish_s = publish_s;
    row.events_per_s = publish_s > 0 ? static_cast<double>(row.events_published) / publish_s : 0;
    const auto first_publish = book.first_publish_us();
    const auto last_publish = book.last_publish_us();
    const auto last_arrival = book.last_arrival_us();
    if (first_publish && last_arrival && *last_arrival > *first_publish) {
        row.span_s = Seconds(*last_arrival - *first_publish);
        row.deliveries_per_s = static_cast<double>(row.received) / row.span_s;
    }
    if (last_publish && last_arrival) {
        row.drain_s = Seconds(std::max<Micros>(*last_arrival - *last_publish, 0));
    }
    const LatencyHistogram latency = book.Latencies();
    row.latency_count = latency.count();
    row.latency_ms_p50 = Millis(latency.PercentileMicros(0.50));
    row.latency_ms_p90 = Millis(latency.PercentileMicros(0.90));
    row.latency_ms_p99 = Millis(latency.PercentileMicros(0.99));
    row.latency_ms_max = Millis(latency.max_micros());
    row.latency_ms_mean = latency.mean_micros() / 1000.0;
    return row;
}

std::string_view GoalVerdictName(GoalVerdict verdict) {
    switch (verdict) {
        case GoalVerdict::kMet:
            return "met";
        case GoalVerdict::kMissed:
            return "missed";
        case GoalVerdict::kNotJudged:
            return "not judged";
    }
    return "unknown";
}

std::vector<GoalCheck> JudgeWebhookGoals(const WebhookSummaryRow& row) {
    const double offered = row.offered_deliveries_per_s();
    const std::string offered_text = Fixed(offered, 1) + " deliveries/s offered";
    std::vector<GoalCheck> checks;

    GoalCheck throughput;
    throughput.goal = ">= " + Fixed(kGoalDeliveriesPerSecond, 0) + " deliveries/s";
    const std::string sustained = Fixed(row.deliveries_per_s, 1) + " deliveries/s sustained";
    if (row.deliveries_per_s >= kGoalDeliveriesPerSecond && row.missing == 0) {
        throughput.verdict = GoalVerdict::kMet;
        throughput.reason = sustained;
    } else if (offered >= kGoalDeliveriesPerSecond) {
        throughput.verdict = GoalVerdict::kMissed;
        throughput.reason = sustained + ", " + Count(row.missing) + " missing, at " + offered_text;
    } else {
        throughput.verdict = GoalVerdict::kNotJudged;
        throughput.reason = "only " + offered_text + "; publish unpaced or faster to judge";
    }
    checks.push_back(std::move(throughput));

    GoalCheck latency;
    latency.goal = "p99 <= " + Fixed(kGoalLatencyMsP99, 0) + " ms at " +
                   Fixed(kGoalLatencyAtDeliveriesPerSecond, 0) + " deliveries/s";
    const bool at_or_above =
        offered >= kGoalLatencyAtDeliveriesPerSecond * (1 - kGoalRateTolerance);
    const bool at_or_below =
        offered <= kGoalLatencyAtDeliveriesPerSecond * (1 + kGoalRateTolerance);
    const bool held =
        row.missing == 0 && row.latency_count > 0 && row.latency_ms_p99 <= kGoalLatencyMsP99;
    const std::string observed =
        (row.latency_count > 0 ? "p99 " + Fixed(row.latency_ms_p99, 1) + " ms"
                               : std::string("no deliveries")) +
        (row.missing > 0 ? ", " + Count(row.missing) + " missing" : "") + " at " + offered_text;
    if (held && at_or_above) {
        latency.verdict = GoalVerdict::kMet;
        latency.reason = observed;
    } else if (!held && at_or_below && row.events_published > 0) {
        latency.verdict = GoalVerdict::kMissed;
        latency.reason = observed;
    } else {
        latency.verdict = GoalVerdict::kNotJudged;
        latency.reason = observed + "; judge with --rate giving " +
                         Fixed(kGoalLatencyAtDeliveriesPerSecond, 0) + " deliveries/s";
    }
    checks.push_back(std::move(latency));
    return checks;
}

std::string FormatWebhookText(const WebhookReport& report) {
    std::string out = "bench webhook";
    if (!report.label.empty()) out += "  label=" + report.label;
    for (const auto& [key, value] : report.attributes) out += "  " + key + "=" + value;
    out += '\n';
    for (const WebhookSummaryRow& row : report.rows) AppendRowText(row, out);

    char line[200];
    out += "== summary ==\n";
    std::snprintf(line, sizeof line, "  %-9s %9s %10s %13s %9s %9s %9s %9s %8s %10s\n", "scenario",
                  "endpoints", "events/s", "deliveries/s", "p50 ms", "p90 ms", "p99 ms", "max ms",
                  "missing", "duplicates");
    out += line;
    for (const WebhookSummaryRow& row : report.rows) {
        std::snprintf(line, sizeof line,
                      "  %-9s %9u %10.1f %13.1f %9.3f %9.3f %9.3f %9.3f %8llu %10llu\n",
                      row.scenario.c_str(), row.endpoints, row.events_per_s, row.deliveries_per_s,
                      row.latency_ms_p50, row.latency_ms_p90, row.latency_ms_p99,
                      row.latency_ms_max, static_cast<unsigned long long>(row.missing),
                      static_cast<unsigned long long>(row.duplicates));
        out += line;
    }
    const auto watched = std::find_if(report.rows.begin(), report.rows.end(),
                                      [](const WebhookSummaryRow& row) { return row.cpu; });
    if (watched != report.rows.end()) {
        out +=
            "  cpu per delivery (microseconds, from the first publish to the end of the wait):\n";
        std::snprintf(line, sizeof line, "  %-9s", "scenario");
        out += line;
        for (const auto& [name, seconds] : watched->cpu->process_seconds) {
            std::snprintf(line, sizeof line, " %15s", name.c_str());
            out += line;
        }
        std::snprintf(line, sizeof line, " %9s %9s %9s\n", "total", "busy %", "steal %");
        out += line;
        for (const WebhookSummaryRow& row : report.rows) {
            if (!row.cpu) continue;
            out += CpuTableRow(row.scenario, 9, *row.cpu,
                               [&](double seconds) { return row.MicrosPerDelivery(seconds); });
        }
    }
    if (report.receiver.stray > 0 || report.receiver.malformed > 0) {
        out += "  receiver: " + Count(report.receiver.stray) +
               " stray requests (other runs or scenarios), " + Count(report.receiver.malformed) +
               " malformed (no webhook-id or bench payload)\n";
    }
    return out;
}

std::string FormatWebhookJson(const WebhookReport& report) {
    using nlohmann::json;
    json out = {{"scenario", "webhook"}, {"label", report.label}};
    json attributes = json::object();
    for (const auto& [key, value] : report.attributes) attributes[key] = value;
    out["attributes"] = std::move(attributes);
    out["receiver"] = {{"stray", report.receiver.stray}, {"malformed", report.receiver.malformed}};
    json summary = json::array();
    for (const WebhookSummaryRow& row : report.rows) {
        json row_attributes = json::object();
        for (const auto& [key, value] : row.attributes) row_attributes[key] = value;
        json item = {
            {"scenario", row.scenario},
            {"endpoints", row.endpoints},
            {"rate_per_second", row.rate_per_second > 0 ? json(row.rate_per_second) : json()},
            {"attributes", std::move(row_attributes)},
            {"events_published", row.events_published},
            {"publish_failures", row.publish_failures},
            {"deliveries",
             {{"expected", row.expected},
              {"received", row.received},
              {"missing", row.missing},
              {"duplicates", row.duplicates},
              {"mismatched_event_ids", row.mismatched_event_ids},
              {"unexpected", row.unexpected}}},
            {"publish_s", row.publish_s},
            {"span_s", row.span_s},
            {"drain_s", row.drain_s},
            {"events_per_s", row.events_per_s},
            {"deliveries_per_s", row.deliveries_per_s},
            {"drained", row.drained},
            {"interrupted", row.interrupted},
            {"latency_ms",
             {{"count", row.latency_count},
              {"p50", row.latency_ms_p50},
              {"p90", row.latency_ms_p90},
              {"p99", row.latency_ms_p99},
              {"max", row.latency_ms_max},
              {"mean", row.latency_ms_mean}}},
        };
        if (row.cpu) {
            json per_delivery = json::object();
            for (const auto& [name, seconds] : row.cpu->process_seconds) {
                per_delivery[name] = row.MicrosPerDelivery(seconds);
            }
            per_delivery["total"] = row.MicrosPerDelivery(row.cpu->total_process_seconds());
            item["cpu"] = {{"window_s", row.cpu->window_s},
                           {"busy_share", row.cpu->busy_share},
                           {"steal_share", row.cpu->steal_share},
                           {"micros_per_delivery", std::move(per_delivery)}};
        }
        json goals = json::array();
        for (const GoalCheck& check : JudgeWebhookGoals(row)) {
            goals.push_back({{"goal", check.goal},
                             {"verdict", GoalVerdictName(check.verdict)},
                             {"reason", check.reason}});
        }
        item["goals"] = std::move(goals);
        summary.push_back(std::move(item));
    }
    out["summary"] = std::move(summary);
    return out.dump();
}

}  // namespace bench
