#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "bench/scenario.hpp"

namespace bench {

// What the standard middleware pipeline costs. Two in-process servers answer the same
// authenticated trivial route (GET /v1/ping, run on the blocking pool like every /v1 route):
// one through middleware::StandardPipeline — request id, access log, metrics, error boundary,
// authentication, rate limit, idempotency — and one bare. The runner loads each in turn with
// the same settings, so one run gives both numbers and their ratio.
//
// The access log goes to /dev/null: formatting and writing each line is measured, the
// terminal is not. The rate limit is set high enough never to refuse. Idempotency keys are
// not sent (GET), so PostgreSQL is not involved.
class PipelineScenario : public Scenario {
  public:
    PipelineScenario();
    ~PipelineScenario() override;

    std::string_view name() const override { return "pipeline"; }
    void Setup() override;
    std::vector<Workload> Workloads() override;
    Attributes attributes() const override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace bench
