#include <gtest/gtest.h>

#include <atomic>

#include "commons/db.hpp"
#include "commons/db_transaction.hpp"
#include "support/devstack.hpp"

namespace commons {
namespace {

using namespace std::chrono_literals;

DbSettings Settings(std::size_t pool_size = 2) {
    DbSettings settings;
    settings.url = test_support::DatabaseUrl();
    settings.application_name = "commons-db-test";
    settings.pool_size = pool_size;
    settings.acquire_timeout = 200ms;
    settings.statement_timeout = 5s;
    settings.transaction_attempts_max = 3;
    return settings;
}

TEST(ConnectionPool, SetsApplicationNameAndStatementTimeout) {
    ConnectionPool pool(Settings());
    auto [name, timeout] = WithTransaction(pool, [](pqxx::dbtransaction& tx) {
        auto row = tx.exec1(
            "SELECT current_setting('application_name'), current_setting('statement_timeout')");
        return std::make_pair(row[0].as<std::string>(), row[1].as<std::string>());
    });
    EXPECT_EQ(name, "commons-db-test");
    EXPECT_EQ(timeout, "5s");
}

TEST(ConnectionPool, ReusesReleasedConnections) {
    ConnectionPool pool(Settings(1));
    auto backend = [&] {
        return WithTransaction(pool, [](pqxx::dbtransaction& tx) {
            return tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
        });
    };
    int first = backend();
    EXPECT_EQ(backend(), first);
    EXPECT_EQ(pool.open_connections(), 1u);
}

TEST(ConnectionPool, ExhaustionFailsAfterAcquireTimeoutInsteadOfHanging) {
    ConnectionPool pool(Settings(1));
    ConnectionLease held = pool.Acquire();
    EXPECT_THROW(pool.Acquire(), DatabaseUnavailableError);
}

TEST(ConnectionPool, WaiterGetsConnectionWhenOneIsReleased) {
    auto settings = Settings(1);
    settings.acquire_timeout = 30s;
    ConnectionPool pool(settings);
    std::optional<ConnectionLease> held(pool.Acquire());
    std::atomic<bool> acquired{false};
    std::thread waiter([&] {
        ConnectionLease lease = pool.Acquire();
        acquired = true;
    });
    held.reset();
    waiter.join();
    EXPECT_TRUE(acquired);
}

TEST(ConnectionPool, UnreachableDatabaseIsUnavailableNotAHang) {
    DbSettings settings = Settings();
    settings.url = "postgresql://payments@127.0.0.1:1/payments";
    ConnectionPool pool(settings);
    EXPECT_THROW(pool.Acquire(), DatabaseUnavailableError);
    EXPECT_NE(pool.Ping(), "");
    EXPECT_EQ(pool.open_connections(), 0u);
}

TEST(ConnectionPool, PingSucceedsAgainstDevstack) {
    ConnectionPool pool(Settings());
    EXPECT_EQ(pool.Ping(), "");
}

TEST(WithTransaction, RetriesSerializationFailureThenSucceeds) {
    ConnectionPool pool(Settings());
    int attempts = 0;
    int result = WithTransaction<Isolation::kSerializable>(pool, [&](pqxx::dbtransaction& tx) {
        ++attempts;
        if (attempts == 1) {
            tx.exec0("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$");
        }
        return tx.exec1("SELECT 42")[0].as<int>();
    });
    EXPECT_EQ(result, 42);
    EXPECT_EQ(attempts, 2);
}

TEST(WithTransaction, RetriesDeadlocks) {
    ConnectionPool pool(Settings());
    int attempts = 0;
    WithTransaction(pool, [&](pqxx::dbtransaction& tx) {
        if (++attempts < 3) {
            tx.exec0("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$");
        }
    });
    EXPECT_EQ(attempts, 3);
}

TEST(WithTransaction, GivesUpAfterBoundedAttempts) {
    ConnectionPool pool(Settings());
    int attempts = 0;
    EXPECT_THROW(WithTransaction(pool,
                                 [&](pqxx::dbtransaction& tx) {
                                     ++attempts;
                                     tx.exec0(
                                         "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = "
                                         "'40001'; END $$");
                                 }),
                 DatabaseUnavailableError);
    EXPECT_EQ(attempts, 3);
}

TEST(WithTransaction, RollsBackOnOtherErrorsWithoutRetrying) {
    ConnectionPool pool(Settings());
    WithTransaction(pool, [](pqxx::dbtransaction& tx) {
        tx.exec0("CREATE TABLE IF NOT EXISTS public.commons_db_test_rollback (v int)");
        tx.exec0("TRUNCATE public.commons_db_test_rollback");
    });
    int attempts = 0;
    EXPECT_THROW(
        WithTransaction(pool,
                        [&](pqxx::dbtransaction& tx) {
                            ++attempts;
                            tx.exec0("INSERT INTO public.commons_db_test_rollback VALUES (1)");
                            tx.exec0("SELECT 1/0");
                        }),
        pqxx::sql_error);
    EXPECT_EQ(attempts, 1);
    auto rows = WithTransaction(pool, [](pqxx::dbtransaction& tx) {
        return tx.exec1("SELECT count(*) FROM public.commons_db_test_rollback")[0].as<int>();
    });
    EXPECT_EQ(rows, 0);
    WithTransaction(pool, [](pqxx::dbtransaction& tx) {
        tx.exec0("DROP TABLE public.commons_db_test_rollback");
    });
}

TEST(WithTransaction, StatementTimeoutStopsRunawayQueries) {
    auto settings = Settings();
    settings.statement_timeout = 100ms;
    ConnectionPool pool(settings);
    EXPECT_THROW(
        WithTransaction(pool, [](pqxx::dbtransaction& tx) { tx.exec("SELECT pg_sleep(30)"); }),
        pqxx::sql_error);
}

TEST(WithTransaction, KilledConnectionIsReplaced) {
    ConnectionPool pool(Settings(1));
    ConnectionPool killer(Settings(1));
    int victim = WithTransaction(pool, [](pqxx::dbtransaction& tx) {
        return tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
    });
    WithTransaction(killer, [victim](pqxx::dbtransaction& tx) {
        tx.exec_params("SELECT pg_terminate_backend($1)", victim);
    });
    // The next use of the dead connection fails as unavailable (never as a client error)...
    EXPECT_THROW(WithTransaction(pool, [](pqxx::dbtransaction& tx) { tx.exec("SELECT 1"); }),
                 DatabaseUnavailableError);
    // ...and the pool has dropped it, so the one after that works on a fresh connection.
    int fresh = WithTransaction(pool, [](pqxx::dbtransaction& tx) {
        return tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
    });
    EXPECT_NE(fresh, victim);
}

TEST(Database, RoutesLaggingReadsToReplicaWhenConfigured) {
    Database with_replica(Settings(), test_support::DatabaseUrl());
    EXPECT_TRUE(with_replica.has_replica());
    EXPECT_NE(&with_replica.ForReads(ReadConsistency::kMayLag), &with_replica.primary());
    EXPECT_EQ(&with_replica.ForReads(ReadConsistency::kPrimary), &with_replica.primary());
    EXPECT_EQ(with_replica.ForReads(ReadConsistency::kMayLag).Ping(), "");

    Database without(Settings(), std::nullopt);
    EXPECT_EQ(&without.ForReads(ReadConsistency::kMayLag), &without.primary());
}

TEST(BuildConninfo, AddsTimeoutAndApplicationName) {
    DbSettings settings;
    settings.url = "postgresql://u@h:1/db";
    settings.application_name = "led ger";
    EXPECT_EQ(
        BuildConninfo(settings),
        "postgresql://u@h:1/"
        "db?connect_timeout=5&application_name=led%20ger&options=-c%20statement_timeout%3D10000");
    settings.url = "postgresql://u@h:1/db?sslmode=disable";
    EXPECT_EQ(BuildConninfo(settings),
              "postgresql://u@h:1/"
              "db?sslmode=disable&connect_timeout=5&application_name=led%20ger&options=-c%"
              "20statement_timeout%3D10000");
}

}  // namespace
}  // namespace commons
