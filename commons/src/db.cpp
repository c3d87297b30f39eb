#include "commons/db.hpp"

#include <pqxx/pqxx>

#include "commons/assert.hpp"
#include "commons/db_transaction.hpp"

namespace commons {
namespace {

bool IsUrl(const std::string& conninfo) {
    return conninfo.rfind("postgres://", 0) == 0 || conninfo.rfind("postgresql://", 0) == 0;
}

std::string UrlEncode(std::string_view value) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : value) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
        }
    }
    return out;
}

}  // namespace

std::string BuildConninfo(const DbSettings& settings) {
    // libpq's connect_timeout is in whole seconds, with 2 as its smallest useful value.
    auto connect_seconds = std::max<long long>(
        2, std::chrono::duration_cast<std::chrono::seconds>(settings.connect_timeout).count());
    // statement_timeout travels in the startup packet (options=-c ...), not as a SET after
    // connecting: libpqxx 6 may reconnect a broken connection on its own and would drop a SET.
    const std::string options =
        "-c statement_timeout=" + std::to_string(settings.statement_timeout.count());
    std::string conninfo = settings.url;
    if (IsUrl(conninfo)) {
        conninfo += conninfo.find('?') == std::string::npos ? '?' : '&';
        conninfo += "connect_timeout=" + std::to_string(connect_seconds);
        if (!settings.application_name.empty()) {
            conninfo += "&application_name=" + UrlEncode(settings.application_name);
        }
        conninfo += "&options=" + UrlEncode(options);
    } else {
        conninfo += " connect_timeout=" + std::to_string(connect_seconds);
        if (!settings.application_name.empty()) {
            conninfo += " application_name='" + settings.application_name + "'";
        }
        conninfo += " options='" + options + "'";
    }
    return conninfo;
}

ConnectionPool::ConnectionPool(DbSettings settings)
    : settings_(std::move(settings)), conninfo_(BuildConninfo(settings_)) {
    PAY_ASSERT(settings_.pool_size > 0);
    PAY_ASSERT(settings_.transaction_attempts_max > 0);
}

ConnectionPool::~ConnectionPool() {
    std::lock_guard lock(mutex_);
    // Every lease must be returned before its pool goes away.
    PAY_ASSERT(open_ == idle_.size());
}

std::unique_ptr<pqxx::connection> ConnectionPool::Connect() {
    try {
        return std::make_unique<pqxx::connection>(conninfo_);
    } catch (const pqxx::broken_connection& error) {
        // libpq's message names host and port but never the password.
        throw DatabaseUnavailableError(std::string("cannot connect to PostgreSQL: ") +
                                       error.what());
    }
}

ConnectionLease ConnectionPool::Acquire() {
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + settings_.acquire_timeout;
    for (;;) {
        if (!idle_.empty()) {
            auto connection = std::move(idle_.back());
            idle_.pop_back();
            return ConnectionLease(*this, std::move(connection));
        }
        if (open_ < settings_.pool_size) {
            ++open_;
            lock.unlock();
            try {
                return ConnectionLease(*this, Connect());
            } catch (...) {
                lock.lock();
                --open_;
                released_.notify_one();
                throw;
            }
        }
        if (released_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
            open_ >= settings_.pool_size) {
            throw DatabaseUnavailableError("no database connection free within " +
                                           std::to_string(settings_.acquire_timeout.count()) +
                                           " ms (pool size " + std::to_string(settings_.pool_size) +
                                           ")");
        }
    }
}

void ConnectionPool::Release(std::unique_ptr<pqxx::connection> connection, bool broken) {
    {
        std::lock_guard lock(mutex_);
        if (broken || !connection->is_open()) {
            --open_;
        } else {
            idle_.push_back(std::move(connection));
        }
    }
    released_.notify_one();
}

std::size_t ConnectionPool::open_connections() const {
    std::lock_guard lock(mutex_);
    return open_;
}

std::string ConnectionPool::Ping() {
    try {
        ConnectionLease lease = Acquire();
        try {
            pqxx::nontransaction query(lease.connection());
            query.exec1("SELECT 1");
            return "";
        } catch (const pqxx::broken_connection& error) {
            lease.MarkBroken();
            return std::string("connection lost: ") + error.what();
        }
    } catch (const std::exception& error) {
        return error.what();
    }
}

Database::Database(DbSettings primary, std::optional<std::string> replica_url) {
    if (replica_url) {
        DbSettings replica = primary;
        replica.url = *replica_url;
        replica_ = std::make_unique<ConnectionPool>(std::move(replica));
    }
    primary_ = std::make_unique<ConnectionPool>(std::move(primary));
}

ConnectionPool& Database::ForReads(ReadConsistency consistency) {
    if (consistency == ReadConsistency::kMayLag && replica_) return *replica_;
    return *primary_;
}

bool IsTransientDatabaseError(const std::exception& error) {
    if (dynamic_cast<const DatabaseUnavailableError*>(&error) != nullptr) return true;
    if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) return true;
    const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error);
    if (sql == nullptr) return false;
    const std::string& state = sql->sqlstate();
    if (state == "55P03") return true;  // lock_not_available
    const std::string_view error_class = std::string_view(state).substr(0, 2);
    // 08 connection, 40 transaction rollback, 53 insufficient resources, 57 operator
    // intervention (query_canceled, admin_shutdown), 58 system error.
    return error_class == "08" || error_class == "40" || error_class == "53" ||
           error_class == "57" || error_class == "58";
}

}  // namespace commons
