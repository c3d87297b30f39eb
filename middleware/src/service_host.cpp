#include "middleware/service_host.hpp"

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "commons/blocking_pool.hpp"
#include "commons/config.hpp"
#include "commons/db.hpp"
#include "commons/events.hpp"
#include "commons/http/server.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "commons/process.hpp"
#include "commons/redis.hpp"
#include "commons/runtime_config.hpp"
#include "commons/secrets.hpp"
#include "middleware/auth.hpp"
#include "middleware/idempotency.hpp"
#include "middleware/pipeline.hpp"
#include "middleware/rate_limit.hpp"
#include "middleware/telemetry.hpp"

#ifndef PAYMENTS_VERSION
#define PAYMENTS_VERSION "dev"
#endif

namespace middleware {
namespace {

using namespace std::chrono_literals;
using commons::http::Execution;
using commons::http::Method;
using commons::http::Request;
using commons::http::Response;

// Everything `serve` reads from the environment, read once at start-up.
struct HostSettings {
    commons::DbSettings db;
    std::optional<std::string> replica_url;
    commons::RedisSettings redis;
    commons::http::ServerSettings http;
    std::size_t blocking_threads = 16;
    std::size_t blocking_queue_max = 1024;
    std::optional<std::filesystem::path> secrets_dir;
    std::filesystem::path runtime_config_dir;
    std::chrono::milliseconds runtime_config_poll{5s};
    commons::LogLevel log_level = commons::LogLevel::kInfo;
    RateLimitSettings rate_limit;
    IdempotencySettings idempotency;
    commons::RelaySettings relay;
};

HostSettings ReadSettings(const ServiceDefinition& service, const commons::EnvReader& env) {
    HostSettings s;
    s.db.url = env.RequiredString("PAYMENTS_DATABASE_URL");
    s.db.application_name = service.name;
    s.db.pool_size = static_cast<std::size_t>(env.Int("PAYMENTS_DB_POOL_SIZE", 16, 1, 500));
    s.db.acquire_timeout = env.Duration("PAYMENTS_DB_ACQUIRE_TIMEOUT", 2s, 1ms, 60s);
    s.db.statement_timeout = env.Duration("PAYMENTS_DB_STATEMENT_TIMEOUT", 10s, 1ms, 1h);
    s.db.connect_timeout = env.Duration("PAYMENTS_DB_CONNECT_TIMEOUT", 5s, 1s, 60s);
    s.replica_url = env.Find("PAYMENTS_DATABASE_REPLICA_URL");

    s.redis.url = env.RequiredString("PAYMENTS_REDIS_URL");
    if (!commons::ParseRedisUrl(s.redis.url)) {
        throw commons::ConfigError("PAYMENTS_REDIS_URL",
                                   "expected redis://[:password@]host[:port][/db], got \"" +
                                       commons::RedactUrl(s.redis.url) + "\"");
    }
    s.redis.pool_size = static_cast<std::size_t>(env.Int("PAYMENTS_REDIS_POOL_SIZE", 8, 1, 256));
    s.redis.command_timeout = env.Duration("PAYMENTS_REDIS_COMMAND_TIMEOUT", 2s, 1ms, 60s);

    s.http.address = env.String("PAYMENTS_HTTP_ADDRESS", "0.0.0.0");
    s.http.port = env.Port("PORT", service.default_port);
    s.http.io_threads = static_cast<std::size_t>(env.Int("PAYMENTS_HTTP_IO_THREADS", 2, 1, 64));
    s.http.body_bytes_max =
        static_cast<std::size_t>(env.Int("PAYMENTS_HTTP_BODY_BYTES_MAX", 1 << 20, 1024, 64 << 20));
    s.http.idle_timeout = env.Duration("PAYMENTS_HTTP_IDLE_TIMEOUT", 60s, 100ms, 1h);
    s.http.header_timeout = env.Duration("PAYMENTS_HTTP_HEADER_TIMEOUT", 10s, 100ms, 10min);
    s.http.body_timeout = env.Duration("PAYMENTS_HTTP_BODY_TIMEOUT", 30s, 100ms, 10min);
    s.http.request_timeout = env.Duration("PAYMENTS_HTTP_REQUEST_TIMEOUT", 30s, 100ms, 10min);
    s.http.drain_timeout = env.Duration("PAYMENTS_SHUTDOWN_DRAIN_TIMEOUT", 15s, 0ms, 10min);
    s.http.connections_max =
        static_cast<std::size_t>(env.Int("PAYMENTS_HTTP_CONNECTIONS_MAX", 4096, 1, 1'000'000));
    s.blocking_threads = static_cast<std::size_t>(
        env.Int("PAYMENTS_BLOCKING_THREADS",
                static_cast<std::int64_t>(service.default_blocking_threads), 1, 1024));
    s.blocking_queue_max =
        static_cast<std::size_t>(env.Int("PAYMENTS_BLOCKING_QUEUE_MAX", 1024, 1, 1'000'000));

    if (auto dir = env.Find("PAYMENTS_SECRETS_DIR")) s.secrets_dir = *dir;
    s.runtime_config_dir = env.String("PAYMENTS_RUNTIME_CONFIG_DIR", "");
    s.runtime_config_poll = env.Duration("PAYMENTS_RUNTIME_CONFIG_POLL_INTERVAL", 5s, 100ms, 1h);
    auto level_text = env.String("PAYMENTS_LOG_LEVEL", "info");
    auto level = commons::ParseLogLevel(level_text);
    if (!level) {
        throw commons::ConfigError(
            "PAYMENTS_LOG_LEVEL",
            "expected debug, info, warn or error, got \"" + level_text + "\"");
    }
    s.log_level = *level;

    s.rate_limit.tokens_per_second =
        static_cast<double>(env.Int("PAYMENTS_RATE_LIMIT_PER_SECOND", 1000, 0, 10'000'000));
    s.rate_limit.burst = static_cast<double>(env.Int(
        "PAYMENTS_RATE_LIMIT_BURST",
        std::max<std::int64_t>(1, static_cast<std::int64_t>(2 * s.rate_limit.tokens_per_second)), 1,
        100'000'000));
    // Stripe keeps keys at least 24 hours; clients rely on that, so less is refused.
    s.idempotency.retention = std::chrono::duration_cast<std::chrono::seconds>(
        env.Duration("PAYMENTS_IDEMPOTENCY_RETENTION", 24h, 24h, 24h * 90));
    s.idempotency.lease = std::chrono::duration_cast<std::chrono::seconds>(
        env.Duration("PAYMENTS_IDEMPOTENCY_LEASE", 60s, 1s, 1h));
    // A live request must never lose its key to a retry.
    if (s.idempotency.lease <= s.http.request_timeout) {
        throw commons::ConfigError("PAYMENTS_IDEMPOTENCY_LEASE",
                                   "must be longer than PAYMENTS_HTTP_REQUEST_TIMEOUT (" +
                                       std::to_string(s.http.request_timeout.count()) +
                                       "ms), got " + std::to_string(s.idempotency.lease.count()) +
                                       "s");
    }

    s.relay.schema = service.name;
    s.relay.stream = env.String("PAYMENTS_EVENTS_STREAM", "payments.events");
    s.relay.batch_max =
        static_cast<std::size_t>(env.Int("PAYMENTS_OUTBOX_BATCH_MAX", 500, 1, 10'000));
    s.relay.retention = std::chrono::duration_cast<std::chrono::seconds>(
        env.Duration("PAYMENTS_OUTBOX_RETENTION", 24h * 7, 1h, 24h * 365));
    return s;
}

std::string ToJson(const nlohmann::json& value) { return value.dump(); }

void AddOperationalRoutes(commons::http::Router& router, commons::Metrics& metrics,
                          commons::Database& database, commons::RedisClient& redis,
                          const std::string& service) {
    router.Add(
        Method::kGet, "/health",
        [service](Request&) {
            return Response::Json(200, ToJson({{"status", "ok"}, {"service", service}}));
        },
        Execution::kInline);
    router.Add(
        Method::kGet, "/metrics",
        [&metrics](Request&) {
            return Response::Text(200, metrics.Serialize(), commons::Metrics::kContentType);
        },
        Execution::kInline);
    router.Add(Method::kGet, "/ready", [&database, &redis, service](Request&) {
        std::string database_problem = database.primary().Ping();
        std::string redis_problem = redis.Ping();
        bool ready = database_problem.empty() && redis_problem.empty();
        nlohmann::json body = {
            {"status", ready ? "ready" : "unavailable"},
            {"service", service},
            {"checks",
             {{"database", database_problem.empty() ? "ok" : database_problem},
              {"redis", redis_problem.empty() ? "ok" : redis_problem}}},
        };
        auto response = Response::Json(ready ? 200 : 503, ToJson(body));
        if (!ready) response.SetHeader("Retry-After", "5");
        return response;
    });
}

int Migrate(const ServiceDefinition& service, const commons::EnvReader& env,
            commons::Logger& logger) {
    commons::DbSettings db;
    db.url = env.RequiredString("PAYMENTS_DATABASE_URL");
    db.application_name = service.name + "-migrate";
    db.pool_size = 1;
    db.statement_timeout = env.Duration("PAYMENTS_MIGRATION_STATEMENT_TIMEOUT", 10min, 1s, 24h);
    commons::ConnectionPool pool(db);
    try {
        auto report = commons::ApplyMigrations(pool, service.name, service.migrations, logger);
        std::string applied;
        for (const auto& name : report.applied) applied += (applied.empty() ? "" : ",") + name;
        logger.Info("migrations complete", {{"schema", service.name},
                                            {"applied", applied},
                                            {"applied_count", report.applied.size()},
                                            {"already_applied", report.already_applied}});
        return 0;
    } catch (const commons::MigrationError& error) {
        logger.Error("migration refused", {{"schema", service.name}, {"error", error.what()}});
        return 1;
    } catch (const commons::DatabaseUnavailableError& error) {
        logger.Error("migration failed: database unavailable", {{"error", error.what()}});
        return 1;
    }
}

int RunCommand(const ServiceDefinition& service, const ServiceCommand& command,
               const commons::EnvReader& env, commons::Logger& logger) {
    commons::DbSettings db;
    db.url = env.RequiredString("PAYMENTS_DATABASE_URL");
    db.application_name = service.name + "-" + command.name;
    db.pool_size = 1;
    db.statement_timeout = env.Duration("PAYMENTS_COMMAND_STATEMENT_TIMEOUT", 10min, 1s, 24h);
    commons::ConnectionPool pool(db);
    try {
        return command.run(pool, service.name, logger);
    } catch (const commons::DatabaseUnavailableError& error) {
        logger.Error("command failed: database unavailable",
                     {{"command", command.name}, {"error", error.what()}});
        return 1;
    }
}

// What `serve` does with the composed routes: serve them, or print them and exit.
enum class ServeMode { kServe, kPrintRoutes };

// The route table as JSON lines ({"method","path","scope"}), for the bad-input sweep and for
// operators: every route the service would serve, composed exactly as `serve` composes it.
void PrintRoutes(const commons::http::Router& router) {
    for (const auto& route : router.routes()) {
        std::cout << nlohmann::json{{"method", commons::http::MethodName(route.method)},
                                    {"path", route.path_template},
                                    {"scope", route.scope}}
                         .dump()
                  << '\n';
    }
    std::cout.flush();
}

int Serve(const ServiceDefinition& service, const commons::EnvReader& env, commons::Logger& logger,
          ServeMode mode) {
    HostSettings settings = ReadSettings(service, env);
    logger.SetLevel(settings.log_level);

    commons::SecretStore secrets(settings.secrets_dir, commons::ProcessEnvironment{});
    commons::Metrics metrics;
    prometheus::BuildGauge()
        .Name("payments_build_info")
        .Help("Always 1; labels name the service and its version")
        .Register(metrics.registry())
        .Add({{"service", service.name}, {"version", PAYMENTS_VERSION}})
        .Set(1);
    commons::IdGenerator ids;
    ApiKeyStore api_keys(secrets, logger, 10s);
    commons::RuntimeConfig runtime_config(
        settings.runtime_config_dir,
        {{"log_level", std::string(commons::LogLevelName(settings.log_level)),
          [](std::string_view value) -> std::optional<std::string> {
              if (commons::ParseLogLevel(value)) return std::nullopt;
              return "expected debug, info, warn or error";
          }}},
        logger, metrics);
    runtime_config.OnChange([&logger](const std::string& key, const std::string& value) {
        if (key == "log_level") logger.SetLevel(*commons::ParseLogLevel(value));
    });
    runtime_config.StartWatching(settings.runtime_config_poll);

    commons::Database database(settings.db, settings.replica_url);
    commons::RedisClient redis(settings.redis);
    commons::BlockingPool blocking_pool(settings.blocking_threads, settings.blocking_queue_max);

    commons::http::Router router;
    AddOperationalRoutes(router, metrics, database, redis, service.name);
    commons::Outbox outbox(service.name, ids);
    ServiceContext context{logger, metrics, database, redis, runtime_config,
                           ids,    outbox,  secrets,  env};
    std::unique_ptr<ServiceParts> parts;
    if (service.add_routes) parts = service.add_routes(context, router);
    if (mode == ServeMode::kPrintRoutes) {
        PrintRoutes(router);
        return 0;
    }

    RequestMetrics request_metrics(service.name, metrics);
    RateLimiter rate_limiter(settings.rate_limit);
    IdempotencyStore idempotency(database.primary(), service.name, settings.idempotency, logger);
    idempotency.StartPurging();
    commons::http::Server server(
        settings.http, router,
        StandardPipeline({ids, logger, request_metrics, api_keys, rate_limiter, &idempotency,
                          service.public_route_prefixes}),
        blocking_pool, logger);
    commons::OutboxRelay relay(database.primary(), redis, settings.relay, logger, metrics);
    relay.Start();
    std::uint16_t port = server.Start();
    logger.Info(
        "started",
        {{"version", PAYMENTS_VERSION},
         {"port", port},
         {"address", settings.http.address},
         {"database", commons::RedactUrl(settings.db.url)},
         {"database_replica",
          settings.replica_url ? commons::RedactUrl(*settings.replica_url) : std::string("none")},
         {"db_pool_size", settings.db.pool_size},
         {"redis", commons::RedactUrl(settings.redis.url)},
         {"io_threads", settings.http.io_threads},
         {"blocking_threads", settings.blocking_threads},
         {"body_bytes_max", settings.http.body_bytes_max},
         {"secrets_dir", settings.secrets_dir ? settings.secrets_dir->string() : "none"},
         {"api_keys", api_keys.size()},
         {"rate_limit_per_second", settings.rate_limit.tokens_per_second},
         {"idempotency_retention_s", settings.idempotency.retention.count()},
         {"runtime_config_dir", settings.runtime_config_dir.string()},
         {"log_level", commons::LogLevelName(settings.log_level)}});

    int signal_number = commons::WaitForTerminationSignal();
    logger.Info("shutting down", {{"signal", signal_number},
                                  {"drain_timeout_ms", settings.http.drain_timeout.count()}});
    server.Stop();
    parts.reset();
    relay.Stop();
    logger.Info("stopped");
    return 0;
}

void PrintUsage(const ServiceDefinition& service) {
    std::string names = "serve|migrate|version|routes";
    for (const auto& command : service.commands) names += "|" + command.name;
    std::fprintf(stderr,
                 "usage: %s-service [%s]\n"
                 "  serve    run the HTTP service (default)\n"
                 "  migrate  apply the %s schema's migrations and exit\n"
                 "  version  print the version\n"
                 "  routes   print the HTTP routes as JSON lines and exit\n",
                 service.name.c_str(), names.c_str(), service.name.c_str());
    for (const auto& command : service.commands) {
        std::fprintf(stderr, "  %-8s %s\n", command.name.c_str(), command.help.c_str());
    }
}

const ServiceCommand* FindCommand(const ServiceDefinition& service, const std::string& name) {
    for (const auto& command : service.commands) {
        if (command.name == name) return &command;
    }
    return nullptr;
}

}  // namespace

int RunService(const ServiceDefinition& service, int argc, char** argv) {
    commons::BlockTerminationSignals();
    // A closed stdout or a peer that went away must surface as a write error, not kill us.
    std::signal(SIGPIPE, SIG_IGN);
    std::string command = argc > 1 ? argv[1] : "serve";
    const ServiceCommand* extra = FindCommand(service, command);
    if (argc > 2 || (command != "serve" && command != "migrate" && command != "version" &&
                     command != "routes" && !extra)) {
        PrintUsage(service);
        return 2;
    }
    if (command == "version") {
        std::printf("%s-service %s\n", service.name.c_str(), PAYMENTS_VERSION);
        return 0;
    }
    commons::Logger logger(service.name);
    commons::ProcessEnvironment environment;
    commons::EnvReader env(environment);
    try {
        if (extra) return RunCommand(service, *extra, env, logger);
        if (command == "migrate") return Migrate(service, env, logger);
        return Serve(service, env, logger,
                     command == "routes" ? ServeMode::kPrintRoutes : ServeMode::kServe);
    } catch (const commons::ConfigError& error) {
        // One line on stderr naming the variable, as operators grep for it.
        std::fprintf(stderr, "%s-service: configuration error: %s\n", service.name.c_str(),
                     error.what());
        return 2;
    } catch (const std::exception& error) {
        // Anything else that escapes (a resource that cannot be opened, a bug): one line and
        // a failed exit, never std::terminate's abort with a core dump.
        std::fprintf(stderr, "%s-service: cannot start: %s\n", service.name.c_str(), error.what());
        return 1;
    }
}

}  // namespace middleware
