#include "middleware/telemetry.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <shared_mutex>
#include <unordered_map>

#include "commons/log.hpp"
#include "commons/metrics.hpp"

namespace middleware {
namespace {

using commons::http::Handler;
using commons::http::Request;
using commons::http::Response;

std::string StatusClass(int status) { return std::to_string(status / 100) + "xx"; }

double SecondsSince(std::chrono::steady_clock::time_point start) {
    if (start == std::chrono::steady_clock::time_point{}) return 0.0;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

commons::http::Middleware AccessLog(commons::Logger& logger) {
    return [&logger](Request& request, const Handler& next) {
        Response response = next(request);
        if (logger.Enabled(commons::LogLevel::kInfo)) {
            logger.Info("request", {{"method", commons::http::MethodName(request.method)},
                                    {"route", request.route.empty() ? "unmatched" : request.route},
                                    {"path", request.path},
                                    {"status", response.status},
                                    {"duration_ms", SecondsSince(request.received) * 1000.0},
                                    {"bytes_in", request.body.size()},
                                    {"bytes_out", response.body.size()},
                                    {"request_id", request.request_id},
                                    {"key_id", request.key_id}});
        }
        return response;
    };
}

struct RequestMetrics::Impl {
    struct Series {
        prometheus::Counter* requests;
        prometheus::Histogram* duration;
    };

    std::string service;
    prometheus::Family<prometheus::Counter>& requests;
    prometheus::Family<prometheus::Histogram>& duration;
    // prometheus-cpp hashes the label set on every Add(); caching the series per
    // (route, method, status class) keeps that off the hot path.
    std::shared_mutex mutex;
    std::unordered_map<std::string, Series> series;

    Series& Find(const std::string& route, std::string_view method, const std::string& status) {
        std::string key = route + '\x1f' + std::string(method) + '\x1f' + status;
        {
            std::shared_lock lock(mutex);
            auto it = series.find(key);
            if (it != series.end()) return it->second;
        }
        std::unique_lock lock(mutex);
        auto [it, inserted] = series.try_emplace(key);
        if (inserted) {
            std::map<std::string, std::string> labels = {{"service", service},
                                                         {"route", route},
                                                         {"method", std::string(method)},
                                                         {"status_class", status}};
            it->second.requests = &requests.Add(labels);
            it->second.duration = &duration.Add(
                labels,
                prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
        }
        return it->second;
    }
};

RequestMetrics::RequestMetrics(std::string service, commons::Metrics& metrics)
    : impl_(new Impl{std::move(service),
                     prometheus::BuildCounter()
                         .Name("http_requests_total")
                         .Help("HTTP requests answered, by route template and status class")
                         .Register(metrics.registry()),
                     prometheus::BuildHistogram()
                         .Name("http_request_duration_seconds")
                         .Help("Time from reading a request to producing its response")
                         .Register(metrics.registry()),
                     {},
                     {}}) {}

RequestMetrics::~RequestMetrics() = default;

commons::http::Middleware RequestMetrics::Middleware() {
    return [impl = impl_.get()](Request& request, const Handler& next) {
        Response response = next(request);
        auto& series =
            impl->Find(request.route.empty() ? "unmatched" : request.route,
                       commons::http::MethodName(request.method), StatusClass(response.status));
        series.requests->Increment();
        series.duration->Observe(SecondsSince(request.received));
        return response;
    };
}

}  // namespace middleware
