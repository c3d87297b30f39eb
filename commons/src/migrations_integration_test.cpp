#include <gtest/gtest.h>

#include <future>

#include "commons/db.hpp"
#include "commons/db_transaction.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/migrations.hpp"
#include "support/devstack.hpp"

namespace commons {
namespace {

class MigrationsTest : public ::testing::Test {
  protected:
    MigrationsTest() {
        DbSettings settings;
        settings.url = test_support::DatabaseUrl();
        settings.application_name = "migrations-test";
        settings.pool_size = 8;
        pool_ = std::make_unique<ConnectionPool>(settings);
    }

    ~MigrationsTest() override {
        WithTransaction(*pool_, [this](pqxx::dbtransaction& tx) {
            tx.exec0("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
        });
    }

    int Count(const std::string& sql) {
        return WithTransaction(*pool_,
                               [&](pqxx::dbtransaction& tx) { return tx.exec1(sql)[0].as<int>(); });
    }

    std::vector<Migration> Base() {
        return {{1, "001_widgets.sql", "CREATE TABLE widgets (id int PRIMARY KEY);"},
                {2, "002_gadgets.sql",
                 "CREATE TABLE gadgets (id int PRIMARY KEY, widget int REFERENCES widgets);\n"
                 "INSERT INTO widgets VALUES (1);"}};
    }

    std::string schema_ = "mig_test_" + RandomHex(6);
    std::unique_ptr<ConnectionPool> pool_;
    Logger logger_{"test", stderr, LogLevel::kError};
};

TEST_F(MigrationsTest, AppliesInOrderIntoTheSchemaAndRecordsChecksums) {
    auto report = ApplyMigrations(*pool_, schema_, Base(), logger_);
    EXPECT_EQ(report.applied, (std::vector<std::string>{"001_widgets.sql", "002_gadgets.sql"}));
    EXPECT_EQ(report.already_applied, 0u);
    EXPECT_EQ(Count("SELECT count(*) FROM " + schema_ + ".widgets"), 1);
    EXPECT_EQ(
        Count("SELECT count(*) FROM " + schema_ + ".schema_migrations WHERE length(checksum) = 64"),
        2);
}

TEST_F(MigrationsTest, SecondRunAppliesNothing) {
    ApplyMigrations(*pool_, schema_, Base(), logger_);
    auto report = ApplyMigrations(*pool_, schema_, Base(), logger_);
    EXPECT_TRUE(report.applied.empty());
    EXPECT_EQ(report.already_applied, 2u);
    EXPECT_EQ(Count("SELECT count(*) FROM " + schema_ + ".widgets"), 1);
}

TEST_F(MigrationsTest, AppliesOnlyNewFilesAfterARelease) {
    auto first = Base();
    first.pop_back();
    ApplyMigrations(*pool_, schema_, first, logger_);
    auto report = ApplyMigrations(*pool_, schema_, Base(), logger_);
    EXPECT_EQ(report.applied, (std::vector<std::string>{"002_gadgets.sql"}));
    EXPECT_EQ(report.already_applied, 1u);
}

TEST_F(MigrationsTest, RefusesAnEditedAppliedFile) {
    ApplyMigrations(*pool_, schema_, Base(), logger_);
    auto edited = Base();
    edited[0].sql = "CREATE TABLE widgets (id bigint PRIMARY KEY);";
    try {
        ApplyMigrations(*pool_, schema_, edited, logger_);
        FAIL() << "an edited migration was accepted";
    } catch (const MigrationError& error) {
        EXPECT_NE(std::string(error.what()).find("001_widgets.sql was edited"), std::string::npos)
            << error.what();
    }
}

TEST_F(MigrationsTest, RefusesWhenAnAppliedOlderFileIsMissing) {
    ApplyMigrations(*pool_, schema_, Base(), logger_);
    auto missing = Base();
    missing.erase(missing.begin());
    EXPECT_THROW(ApplyMigrations(*pool_, schema_, missing, logger_), MigrationError);
}

TEST_F(MigrationsTest, ToleratesNewerMigrationsFromALaterRelease) {
    ApplyMigrations(*pool_, schema_, Base(), logger_);
    auto older_binary = Base();
    older_binary.pop_back();
    auto report = ApplyMigrations(*pool_, schema_, older_binary, logger_);
    EXPECT_TRUE(report.applied.empty());
}

TEST_F(MigrationsTest, FailingFileAppliesNothingAtAll) {
    auto broken = Base();
    broken.push_back({3, "003_broken.sql", "CREATE TABLE ok_table (id int); SELEKT nonsense;"});
    try {
        ApplyMigrations(*pool_, schema_, broken, logger_);
        FAIL() << "a broken migration was accepted";
    } catch (const MigrationError& error) {
        EXPECT_NE(std::string(error.what()).find("003_broken.sql failed"), std::string::npos);
    }
    EXPECT_EQ(Count("SELECT count(*) FROM pg_namespace WHERE nspname = '" + schema_ + "'"), 0);
}

TEST_F(MigrationsTest, RefusesUnorderedListsAndInvalidSchemaNames) {
    auto unordered = Base();
    std::swap(unordered[0], unordered[1]);
    EXPECT_THROW(ApplyMigrations(*pool_, schema_, unordered, logger_), MigrationError);
    EXPECT_THROW(ApplyMigrations(*pool_, "bad; DROP SCHEMA public", Base(), logger_),
                 MigrationError);
    EXPECT_FALSE(IsValidSchemaName("Ledger"));
    EXPECT_FALSE(IsValidSchemaName(""));
    EXPECT_TRUE(IsValidSchemaName("ledger"));
}

TEST_F(MigrationsTest, TracksHaveIndependentVersionsAndAreAppliedInListOrder) {
    std::vector<Migration> tracked = {
        {1, "001_shared.sql", "CREATE TABLE shared (id int PRIMARY KEY);", "commons"},
        {1, "001_own.sql", "CREATE TABLE own (id int REFERENCES shared);", "ledger"},
    };
    auto report = ApplyMigrations(*pool_, schema_, tracked, logger_);
    EXPECT_EQ(report.applied, (std::vector<std::string>{"001_shared.sql", "001_own.sql"}));
    tracked.push_back({2, "002_shared.sql", "ALTER TABLE shared ADD COLUMN v int;", "commons"});
    report = ApplyMigrations(*pool_, schema_, tracked, logger_);
    EXPECT_EQ(report.applied, (std::vector<std::string>{"002_shared.sql"}));
    EXPECT_EQ(
        Count("SELECT count(*) FROM " + schema_ + ".schema_migrations WHERE track = 'commons'"), 2);
    tracked[0].sql += " -- edited";
    EXPECT_THROW(ApplyMigrations(*pool_, schema_, tracked, logger_), MigrationError);
}

TEST_F(MigrationsTest, ConcurrentRunsApplyEachFileExactlyOnce) {
    constexpr int kRunners = 6;
    std::vector<std::future<MigrationReport>> runs;
    for (int i = 0; i < kRunners; ++i) {
        runs.push_back(std::async(
            std::launch::async, [&] { return ApplyMigrations(*pool_, schema_, Base(), logger_); }));
    }
    std::size_t applied = 0;
    for (auto& run : runs) applied += run.get().applied.size();
    EXPECT_EQ(applied, 2u);
    EXPECT_EQ(Count("SELECT count(*) FROM " + schema_ + ".widgets"), 1);
}

}  // namespace
}  // namespace commons
