#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pqxx {
template <typename ConnectPolicy>
class basic_connection_base;
class connect_direct;
using connection = basic_connection_base<connect_direct>;
}  // namespace pqxx

namespace commons {

// The database cannot do the work now (unreachable, pool exhausted past its acquire timeout,
// retries exhausted). The error boundary answers 503 with Retry-After.
class DatabaseUnavailableError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Whether `error` means the database cannot do the work now, whatever the data: unavailable
// (DatabaseUnavailableError), a lost connection, a serialization failure or deadlock, a
// statement cancelled or timed out, a lock not available, resources exhausted. Other errors
// (PostgreSQL refusing a value, a constraint, a bug) are about what was sent, so code that
// writes many clients' items in one transaction re-runs them one by one after such an error
// and only the item that fails alone gets it.
bool IsTransientDatabaseError(const std::exception& error);

struct DbSettings {
    std::string url;               // libpq URL or key=value string
    std::string application_name;  // shows in pg_stat_activity: the service name
    // Connections per process; PostgreSQL's max_connections is shared by every replica.
    std::size_t pool_size = 16;
    // How long a request waits for a free connection before it is refused.
    std::chrono::milliseconds acquire_timeout{2000};
    std::chrono::milliseconds connect_timeout{5000};
    // Server-side bound on every statement, so no query holds locks forever.
    std::chrono::milliseconds statement_timeout{10000};
    // Serialization failures and deadlocks retried by WithTransaction before giving up.
    int transaction_attempts_max = 5;
};

class ConnectionLease;

// A bounded pool of libpqxx connections, opened lazily and replaced when broken. Acquire()
// waits at most `acquire_timeout` and then throws DatabaseUnavailableError; it never hangs.
// Thread-safe. Blocking: call from a BlockingPool thread, never from an io thread.
class ConnectionPool {
  public:
    explicit ConnectionPool(DbSettings settings);
    ~ConnectionPool();
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

    ConnectionLease Acquire();
    // Runs `SELECT 1`; returns an empty string on success, else what failed.
    std::string Ping();

    const DbSettings& settings() const { return settings_; }
    std::size_t open_connections() const;

  private:
    friend class ConnectionLease;
    void Release(std::unique_ptr<pqxx::connection> connection, bool broken);
    std::unique_ptr<pqxx::connection> Connect();

    DbSettings settings_;
    std::string conninfo_;
    mutable std::mutex mutex_;
    std::condition_variable released_;
    std::vector<std::unique_ptr<pqxx::connection>> idle_;
    std::size_t open_ = 0;  // idle plus leased plus being opened
};

// Which pool serves a read.
enum class ReadConsistency {
    kPrimary,  // must see every committed write (read-your-writes)
    kMayLag,   // may come from the read replica when one is configured
};

// The primary pool plus an optional read-replica pool.
class Database {
  public:
    Database(DbSettings primary, std::optional<std::string> replica_url);
    ConnectionPool& primary() { return *primary_; }
    ConnectionPool& ForReads(ReadConsistency consistency);
    bool has_replica() const { return replica_ != nullptr; }

  private:
    std::unique_ptr<ConnectionPool> primary_;
    std::unique_ptr<ConnectionPool> replica_;
};

// Builds the libpq connection string: `url` plus connect_timeout and application_name.
std::string BuildConninfo(const DbSettings& settings);

}  // namespace commons
