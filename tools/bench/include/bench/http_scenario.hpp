#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bench/http_message.hpp"
#include "bench/request_template.hpp"
#include "bench/scenario.hpp"
#include "bench/template.hpp"

namespace bench {

// `bench http`: one request template against one URL; a non-2xx status is an error.
class HttpScenario final : public Scenario {
  public:
    // `url_text` is the URL as given, for the report; `label` may be empty (then the workload
    // is labelled "METHOD target").
    HttpScenario(HttpUrl url, std::string url_text, RequestTemplate request, TemplateRun run,
                 std::string label);

    std::string_view name() const override { return "http"; }
    std::vector<Workload> Workloads() override;
    Attributes attributes() const override;

  private:
    HttpUrl url_;
    std::string url_text_;
    RequestTemplate request_;
    TemplateRun run_;
    std::string label_;
};

}  // namespace bench
