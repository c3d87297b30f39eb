#pragma once

// Included by store/ code only: it brings in libpqxx.

#include <pqxx/pqxx>
#include <random>
#include <thread>
#include <type_traits>

#include "commons/db.hpp"

namespace commons {

// One connection borrowed from a ConnectionPool; returned on destruction. A connection that
// saw a broken-connection error is discarded instead of returned.
class ConnectionLease {
  public:
    ConnectionLease(ConnectionPool& pool, std::unique_ptr<pqxx::connection> connection)
        : pool_(&pool), connection_(std::move(connection)) {}
    ConnectionLease(ConnectionLease&& other) noexcept = default;
    ConnectionLease& operator=(ConnectionLease&&) = delete;
    ~ConnectionLease() {
        if (connection_) pool_->Release(std::move(connection_), broken_);
    }

    pqxx::connection& connection() { return *connection_; }
    void MarkBroken() { broken_ = true; }

  private:
    ConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> connection_;
    bool broken_ = false;
};

enum class Isolation { kReadCommitted, kRepeatableRead, kSerializable };

// Runs `work(pqxx::dbtransaction&)` in a transaction on a pooled connection and commits.
// Serialization failures and deadlocks are retried, each attempt in a fresh transaction, up
// to the pool's `transaction_attempts_max`, with a short randomized backoff; after that, and
// for a broken connection, throws DatabaseUnavailableError. Other errors propagate unchanged
// and roll back. `work` must therefore be safe to run more than once.
template <Isolation kIsolation = Isolation::kReadCommitted, typename Work>
auto WithTransaction(ConnectionPool& pool, Work&& work) {
    using TransactionType = std::conditional_t<
        kIsolation == Isolation::kSerializable, pqxx::transaction<pqxx::serializable>,
        std::conditional_t<kIsolation == Isolation::kRepeatableRead,
                           pqxx::transaction<pqxx::repeatable_read>, pqxx::work>>;
    const int attempts = pool.settings().transaction_attempts_max;
    thread_local std::minstd_rand jitter{std::random_device{}()};
    for (int attempt = 1;; ++attempt) {
        ConnectionLease lease = pool.Acquire();
        try {
            TransactionType transaction(lease.connection());
            if constexpr (std::is_void_v<decltype(work(transaction))>) {
                work(transaction);
                transaction.commit();
                return;
            } else {
                auto result = work(transaction);
                transaction.commit();
                return result;
            }
        } catch (const pqxx::transaction_rollback& error) {
            // serialization_failure, deadlock_detected: the database asks us to try again.
            if (attempt >= attempts) {
                throw DatabaseUnavailableError(std::string("transaction retries exhausted: ") +
                                               error.what());
            }
            std::uniform_int_distribution<int> backoff_ms(1, 5 * attempt);
            std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms(jitter)));
        } catch (const pqxx::broken_connection& error) {
            lease.MarkBroken();
            throw DatabaseUnavailableError(std::string("database connection lost: ") +
                                           error.what());
        }
    }
}

}  // namespace commons
