#include "bench/pipeline_scenario.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "commons/blocking_pool.hpp"
#include "commons/config.hpp"
#include "commons/crypto.hpp"
#include "commons/db.hpp"
#include "commons/http/server.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "commons/secrets.hpp"
#include "middleware/auth.hpp"
#include "middleware/idempotency.hpp"
#include "middleware/pipeline.hpp"
#include "middleware/rate_limit.hpp"
#include "middleware/telemetry.hpp"

namespace bench {
namespace {

using commons::http::Method;
using commons::http::Request;
using commons::http::Response;

// Blocking-pool threads per server: like a service's default, scaled to this 2-core machine.
constexpr std::size_t kBlockingThreads = 4;
constexpr std::size_t kBlockingQueueMax = 8192;

struct DevNull {
    std::FILE* file = std::fopen("/dev/null", "w");
    ~DevNull() {
        if (file != nullptr) std::fclose(file);
    }
};

}  // namespace

struct PipelineScenario::Impl {
    std::string api_key = "sk_bench_" + commons::RandomHex(16);
    std::filesystem::path secrets_dir =
        std::filesystem::temp_directory_path() / ("bench-secrets-" + commons::RandomHex(6));
    DevNull dev_null;
    commons::Logger logger{"bench-pipeline", dev_null.file, commons::LogLevel::kInfo};
    commons::Metrics metrics;
    commons::IdGenerator ids;
    commons::MapEnvironment env;
    std::unique_ptr<commons::SecretStore> secrets;
    std::unique_ptr<middleware::ApiKeyStore> api_keys;
    std::unique_ptr<middleware::RequestMetrics> request_metrics;
    middleware::RateLimiter rate_limiter{middleware::RateLimitSettings{1e9, 1e9, 1024}};
    std::unique_ptr<commons::ConnectionPool> pool;
    std::unique_ptr<middleware::IdempotencyStore> idempotency;
    commons::http::Router router;
    commons::BlockingPool bare_pool{kBlockingThreads, kBlockingQueueMax};
    commons::BlockingPool pipeline_pool{kBlockingThreads, kBlockingQueueMax};
    std::unique_ptr<commons::http::Server> bare;
    std::unique_ptr<commons::http::Server> full;
    std::uint16_t bare_port = 0;
    std::uint16_t full_port = 0;

    ~Impl() {
        if (full) full->Stop();
        if (bare) bare->Stop();
        std::error_code ignored;
        std::filesystem::remove_all(secrets_dir, ignored);
    }
};

PipelineScenario::PipelineScenario() : impl_(std::make_unique<Impl>()) {}
PipelineScenario::~PipelineScenario() = default;

void PipelineScenario::Setup() {
    auto& impl = *impl_;
    if (impl.dev_null.file == nullptr) throw std::runtime_error("cannot open /dev/null");
    std::filesystem::create_directories(impl.secrets_dir);
    std::ofstream(impl.secrets_dir / "api-keys")
        << "key_bench " << commons::Sha256Hex(impl.api_key) << " *\n";
    impl.secrets = std::make_unique<commons::SecretStore>(impl.secrets_dir, impl.env);
    impl.api_keys = std::make_unique<middleware::ApiKeyStore>(*impl.secrets, impl.logger,
                                                              std::chrono::seconds(10));
    impl.request_metrics = std::make_unique<middleware::RequestMetrics>("bench", impl.metrics);
    // Connections open lazily and GET never uses the idempotency store, so no database is
    // needed; the store is in the pipeline exactly as in a service.
    commons::DbSettings db;
    const char* url = std::getenv("PAYMENTS_DATABASE_URL");
    db.url = url != nullptr ? url : "postgresql://127.0.0.1:1/unused";
    db.application_name = "bench-pipeline";
    impl.pool = std::make_unique<commons::ConnectionPool>(db);
    impl.idempotency = std::make_unique<middleware::IdempotencyStore>(
        *impl.pool, "bench", middleware::IdempotencySettings{}, impl.logger);

    impl.router.Add(
        Method::kGet, "/v1/ping",
        [](Request& request) {
            return Response::Json(200, R"({"object":"ping","key_id":")" + request.key_id + R"("})");
        },
        commons::http::RouteOptions{commons::http::Execution::kBlocking, "bench:read"});

    commons::http::ServerSettings settings;
    settings.address = "127.0.0.1";
    settings.io_threads = 1;
    impl.bare = std::make_unique<commons::http::Server>(settings, impl.router,
                                                        std::vector<commons::http::Middleware>{},
                                                        impl.bare_pool, impl.logger);
    impl.full = std::make_unique<commons::http::Server>(
        settings, impl.router,
        middleware::StandardPipeline({impl.ids, impl.logger, *impl.request_metrics, *impl.api_keys,
                                      impl.rate_limiter, impl.idempotency.get()}),
        impl.pipeline_pool, impl.logger);
    impl.bare_port = impl.bare->Start();
    impl.full_port = impl.full->Start();
}

std::vector<Workload> PipelineScenario::Workloads() {
    auto make = [this](std::string label, std::uint16_t port) {
        Workload workload;
        workload.label = std::move(label);
        workload.endpoint = Endpoint{"127.0.0.1", port};
        const std::string authorization = "Bearer " + impl_->api_key;
        workload.make_request = [authorization](std::uint64_t) {
            HttpRequest request;
            request.target = "/v1/ping";
            request.headers = {{"Authorization", authorization}};
            return request;
        };
        workload.attributes = {{"route", "GET /v1/ping"}, {"port", std::to_string(port)}};
        return workload;
    };
    return {make("bare", impl_->bare_port), make("pipeline", impl_->full_port)};
}

Attributes PipelineScenario::attributes() const {
    return {{"pipeline",
             "request_id, access_log, metrics, error_boundary, authentication, "
             "rate_limit, idempotency"},
            {"server_io_threads", "1"},
            {"server_blocking_threads", std::to_string(kBlockingThreads)}};
}

}  // namespace bench
