#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace commons {

class ConnectionPool;
class Logger;

// One versioned SQL file, e.g. {1, "001_outbox.sql", "CREATE TABLE ..."}. Files are embedded
// into each service binary at build time (cmake/embed_migrations.cmake).
//
// A migration belongs to a track with its own version sequence: "commons" for the platform's
// tables that every service has (commons/migrations/), and the service's name for its own
// (<service>/migrations/). The commons track is listed first, so its tables exist before the
// service's migrations run.
struct Migration {
    int version;
    std::string name;
    std::string sql;
    std::string track = "main";
};

// Migrations cannot be applied: an edited or deleted already-applied file, a malformed list,
// an invalid schema name, or SQL that fails. Nothing was changed when it is thrown.
class MigrationError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct MigrationReport {
    std::vector<std::string> applied;  // names applied by this run, in order
    std::size_t already_applied = 0;
};

// Applies the pending `migrations` (versions strictly increasing within each track) to `schema`
// (created if missing) in one transaction under a transaction-scoped advisory lock, so concurrent
// runs (several replicas starting at once) apply each file exactly once. Each applied file's
// SHA-256 is recorded in <schema>.schema_migrations; a recorded file whose content changed is
// refused. While a file runs, search_path is the schema, so files may use unqualified names. Throws
// MigrationError, or DatabaseUnavailableError when the database cannot be reached.
MigrationReport ApplyMigrations(ConnectionPool& pool, std::string_view schema,
                                const std::vector<Migration>& migrations, Logger& logger);

// True for a lower-case SQL identifier: [a-z_][a-z0-9_]{0,62}.
bool IsValidSchemaName(std::string_view schema);

}  // namespace commons
