#include "bench/http_scenario.hpp"

#include <utility>

namespace bench {

HttpScenario::HttpScenario(HttpUrl url, std::string url_text, RequestTemplate request,
                           TemplateRun run, std::string label)
    : url_(std::move(url)),
      url_text_(std::move(url_text)),
      request_(std::move(request)),
      run_(std::move(run)),
      label_(std::move(label)) {}

std::vector<Workload> HttpScenario::Workloads() {
    Workload workload;
    workload.label = label_.empty() ? request_.method() + " " + url_.target : label_;
    workload.endpoint = url_.endpoint;
    // RequestTemplate::Make and run_ are immutable, so this is safe from every load thread.
    workload.make_request = [this](std::uint64_t seq) { return request_.Make(run_, seq); };
    workload.attributes = {{"method", request_.method()}, {"url", url_text_}};
    std::vector<Workload> workloads;
    workloads.push_back(std::move(workload));
    return workloads;
}

Attributes HttpScenario::attributes() const {
    return {{"seed", std::to_string(run_.seed)}, {"unique_prefix", run_.unique_prefix}};
}

}  // namespace bench
