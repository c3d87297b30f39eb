#include "bench/report.hpp"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace bench {
namespace {

double Seconds(std::chrono::nanoseconds value) {
    return std::chrono::duration<double>(value).count();
}

double Millis(std::uint64_t micros) { return static_cast<double>(micros) / 1000.0; }

double PerSecond(std::uint64_t count, std::chrono::nanoseconds window) {
    const double seconds = Seconds(window);
    return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

std::string Fixed(double value, int decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

std::map<std::string, std::uint64_t> ByClass(const std::map<int, std::uint64_t>& by_status) {
    std::map<std::string, std::uint64_t> by_class;
    for (const auto& [status, count] : by_status) by_class[StatusClass(status)] += count;
    return by_class;
}

constexpr std::pair<const char*, double> kPercentiles[] = {
    {"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99_9", 0.999}};

std::string ModeText(const LoadSettings& settings) {
    std::string text;
    if (settings.rate_per_second) {
        text = "open model, " + Fixed(*settings.rate_per_second, 1) + " req/s offered, up to " +
               std::to_string(settings.connections) + " connections";
    } else {
        text = "closed model, " + std::to_string(settings.connections) + " connections";
    }
    text += ", " + std::to_string(settings.threads) +
            (settings.threads == 1 ? " thread" : " threads") + "; warm-up " +
            FormatDuration(settings.warmup) + ", timeout " +
            FormatDuration(settings.request_timeout);
    return text;
}

void AppendResultText(const LoadResult& result, std::string& out) {
    const auto line = [&out](std::string_view key, const std::string& value) {
        out += "  ";
        out += key;
        out.append(12 - std::min<std::size_t>(key.size(), 11), ' ');
        out += value;
        out += '\n';
    };
    out += "== " + result.label + " ==\n";
    for (const auto& [key, value] : result.attributes) line(key, value);
    line("model", ModeText(result.settings));
    std::string duration = Fixed(Seconds(result.measured), 2) + "s measured";
    if (result.interrupted) {
        duration += " (interrupted; asked for " + FormatDuration(result.settings.duration) + ")";
    }
    line("duration", duration);
    line("requests", "sent " + std::to_string(result.sent) + ", completed " +
                         std::to_string(result.completed) + ", ok " + std::to_string(result.ok) +
                         ", errors " + std::to_string(result.errors()));
    line("throughput", Fixed(PerSecond(result.completed, result.measured), 1) + " completed/s, " +
                           Fixed(PerSecond(result.ok, result.measured), 1) + " ok/s");
    if (result.settings.rate_per_second) {
        line("rate", "offered " + Fixed(*result.settings.rate_per_second, 1) + "/s (" +
                         std::to_string(result.offered) + " due), achieved " +
                         Fixed(PerSecond(result.sent, result.measured), 1) + "/s, dropped " +
                         std::to_string(result.dropped) + " (no free connection)");
    }
    const LatencyHistogram& latency = result.latency;
    if (latency.count() == 0) {
        line("latency ms", "no responses");
    } else {
        std::string text;
        for (const auto& [name, quantile] : kPercentiles) {
            text += std::string(name == std::string_view("p99_9") ? "p99.9" : name) + " " +
                    Fixed(Millis(latency.PercentileMicros(quantile)), 3) + "  ";
        }
        text += "max " + Fixed(Millis(latency.max_micros()), 3) + "  mean " +
                Fixed(latency.mean_micros() / 1000.0, 3);
        line("latency ms", text);
    }
    std::string statuses;
    for (const auto& [status, count] : result.status_counts) {
        statuses +=
            (statuses.empty() ? "" : ", ") + std::to_string(status) + ": " + std::to_string(count);
    }
    line("status", statuses.empty() ? "none" : statuses);
    std::string errors;
    std::uint64_t http_errors = 0;
    for (const auto& [status, count] : result.http_errors) http_errors += count;
    errors = "http " + std::to_string(http_errors);
    if (http_errors > 0) {
        std::string classes;
        for (const auto& [name, count] : ByClass(result.http_errors)) {
            classes += (classes.empty() ? "" : ", ") + name + " " + std::to_string(count);
        }
        errors += " (" + classes + ")";
    }
    errors += ", unexpected " + std::to_string(result.unexpected);
    for (std::size_t i = 0; i < kTransportErrorKinds; ++i) {
        errors += ", " + std::string(TransportErrorName(static_cast<TransportError>(i))) + " " +
                  std::to_string(result.transport_errors[i]);
    }
    line("errors", errors);
    line("connections", std::to_string(result.connections_opened) + " opened, " +
                            std::to_string(result.connect_failures) + " failed connects");
}

nlohmann::json AttributesJson(const Attributes& attributes) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& [key, value] : attributes) object[key] = value;
    return object;
}

nlohmann::json CountsJson(const std::map<int, std::uint64_t>& counts) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& [status, count] : counts) object[std::to_string(status)] = count;
    return object;
}

nlohmann::json ResultJson(const LoadResult& result) {
    const LoadSettings& settings = result.settings;
    nlohmann::json json;
    json["label"] = result.label;
    json["attributes"] = AttributesJson(result.attributes);
    json["settings"] = {
        {"model", settings.rate_per_second ? "open" : "closed"},
        {"connections", settings.connections},
        {"threads", settings.threads},
        {"duration_s", Seconds(settings.duration)},
        {"warmup_s", Seconds(settings.warmup)},
        {"timeout_s", Seconds(settings.request_timeout)},
        {"rate_per_s", settings.rate_per_second ? nlohmann::json(*settings.rate_per_second)
                                                : nlohmann::json(nullptr)},
    };
    json["interrupted"] = result.interrupted;
    json["duration_s"] = Seconds(result.measured);
    json["requests"] = {
        {"offered", result.offered},     {"dropped", result.dropped}, {"sent", result.sent},
        {"completed", result.completed}, {"ok", result.ok},           {"errors", result.errors()},
    };
    nlohmann::json transport = nlohmann::json::object();
    for (std::size_t i = 0; i < kTransportErrorKinds; ++i) {
        transport[std::string(TransportErrorName(static_cast<TransportError>(i)))] =
            result.transport_errors[i];
    }
    nlohmann::json by_class = nlohmann::json::object();
    for (const auto& [name, count] : ByClass(result.http_errors)) by_class[name] = count;
    json["errors"] = {
        {"http_by_status", CountsJson(result.http_errors)},
        {"http_by_class", by_class},
        {"unexpected", result.unexpected},
        {"transport", transport},
    };
    json["status_counts"] = CountsJson(result.status_counts);
    json["throughput"] = {
        {"completed_per_s", PerSecond(result.completed, result.measured)},
        {"ok_per_s", PerSecond(result.ok, result.measured)},
    };
    if (settings.rate_per_second) {
        json["rate"] = {
            {"offered_per_s", *settings.rate_per_second},
            {"achieved_per_s", PerSecond(result.sent, result.measured)},
        };
    }
    const LatencyHistogram& latency = result.latency;
    nlohmann::json latency_json = {{"samples", latency.count()}};
    for (const auto& [name, quantile] : kPercentiles) {
        latency_json[name] = Millis(latency.PercentileMicros(quantile));
    }
    latency_json["max"] = Millis(latency.max_micros());
    latency_json["min"] = Millis(latency.min_micros());
    latency_json["mean"] = latency.mean_micros() / 1000.0;
    json["latency_ms"] = latency_json;
    json["connections"] = {{"opened", result.connections_opened},
                           {"connect_failures", result.connect_failures}};
    return json;
}

}  // namespace

std::string FormatText(const RunReport& report) {
    std::string out = "bench " + report.scenario;
    if (!report.label.empty()) out += " (" + report.label + ")";
    for (const auto& [key, value] : report.attributes) out += "  " + key + "=" + value;
    out += '\n';
    for (const LoadResult& result : report.results) AppendResultText(result, out);
    return out;
}

std::string FormatJson(const RunReport& report) {
    nlohmann::json json;
    json["scenario"] = report.scenario;
    json["label"] = report.label;
    json["attributes"] = AttributesJson(report.attributes);
    json["results"] = nlohmann::json::array();
    for (const LoadResult& result : report.results) json["results"].push_back(ResultJson(result));
    return json.dump();
}

}  // namespace bench
