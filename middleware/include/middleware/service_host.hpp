#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "commons/http/router.hpp"
#include "commons/migrations.hpp"

namespace commons {
class BlockingPool;
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

struct ServiceDefinition {
    std::string name;  // "ledger": also the PostgreSQL schema and application_name
    std::uint16_t default_port;
    const std::vector<commons::Migration>& migrations;
    // Adds the service's own routes (its /v1/ API). May be empty.
    std::function<void(ServiceContext&, commons::http::Router&)> add_routes;
};

// The shared composition root of every service binary:
//   <binary> serve    (default) reads config and secrets, serves /health, /ready, /metrics
//                     and the service's routes through the standard pipeline, and drains on
//                     SIGTERM/SIGINT;
//   <binary> migrate  applies the service's migrations to its schema and exits;
//   <binary> version  prints the version.
// A configuration error prints one line naming the variable and exits with status 2.
int RunService(const ServiceDefinition& service, int argc, char** argv);

}  // namespace middleware
