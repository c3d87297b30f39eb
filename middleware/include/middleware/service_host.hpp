#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "commons/http/router.hpp"
#include "commons/migrations.hpp"

namespace commons {
class BlockingPool;
class ConnectionPool;
class Database;
class EnvReader;
class IdGenerator;
class Logger;
class Outbox;
class Metrics;
class RedisClient;
class RuntimeConfig;
class SecretStore;
}  // namespace commons

namespace middleware {

// What a service's routes may use; everything is owned by the host and outlives the server.
struct ServiceContext {
    commons::Logger& logger;
    commons::Metrics& metrics;
    commons::Database& database;
    commons::RedisClient& redis;
    commons::RuntimeConfig& runtime_config;
    commons::IdGenerator& ids;
    // Writes events in the caller's transaction; the host's relay publishes them.
    commons::Outbox& outbox;
    const commons::SecretStore& secrets;
    const commons::EnvReader& env;
};

// What a service keeps alive while it serves (stores, background workers). Destroyed after
// the server has drained and before the pools it uses, so its destructor may stop workers.
class ServiceParts {
  public:
    virtual ~ServiceParts() = default;
};

// An extra command of the binary (`ledger-service verify`): runs against the service's
// database and returns the process exit status.
struct ServiceCommand {
    std::string name;
    std::string help;  // one line for the usage text
    std::function<int(commons::ConnectionPool& pool, const std::string& schema,
                      commons::Logger& logger)>
        run;
};

struct ServiceDefinition {
    std::string name;  // "ledger": also the PostgreSQL schema and application_name
    std::uint16_t default_port;
    const std::vector<commons::Migration>& migrations;
    // Handler threads unless PAYMENTS_BLOCKING_THREADS says otherwise. A service whose handlers
    // mostly wait (the ledger's wait for their group commit) wants more: a waiting request holds
    // a thread, and only requests holding one can join a batch.
    std::size_t default_blocking_threads = 16;
    // Adds the service's own routes (its /v1/ API) and returns what they need kept alive
    // (may be null). May be empty.
    std::function<std::unique_ptr<ServiceParts>(ServiceContext&, commons::http::Router&)>
        add_routes;
    std::vector<ServiceCommand> commands;
    // Paths under /v1/ served without an API key (see Authentication).
    std::vector<std::string> public_route_prefixes;
};

// The shared composition root of every service binary:
//   <binary> serve    (default) reads config and secrets, serves /health, /ready, /metrics
//                     and the service's routes through the standard pipeline, and drains on
//                     SIGTERM/SIGINT;
//   <binary> migrate  applies the service's migrations to its schema and exits;
//   <binary> version  prints the version;
//   <binary> routes   composes the service as `serve` does, prints its routes as JSON lines
//                     ({"method","path","scope"}) and exits (the bad-input sweep reads them);
//   <binary> <name>   runs one of `commands` against the primary database.
// A configuration error prints one line naming the variable and exits with status 2.
int RunService(const ServiceDefinition& service, int argc, char** argv);

}  // namespace middleware
