#pragma once

// A database of the devstack PostgreSQL for one test only, so service processes that must run
// under their fixed schema name (`ledger`, ...) do not share tables, outbox rows or relays with
// tests running at the same time. Dropped at the end, with any connection still open to it.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "commons/db.hpp"
#include "commons/db_transaction.hpp"
#include "commons/ids.hpp"
#include "support/devstack.hpp"

namespace test_support {

// `url` (a libpq URL or key=value string) with its database replaced by `database`.
inline std::string WithDatabase(const std::string& url, const std::string& database) {
    const std::size_t scheme = url.find("://");
    if (scheme == std::string::npos) return url + " dbname=" + database;
    const std::size_t query = url.find('?', scheme);
    const std::size_t path = url.find('/', scheme + 3);
    const std::string rest = query == std::string::npos ? "" : url.substr(query);
    const std::size_t authority_end = std::min(path, query);
    return url.substr(0, authority_end) + "/" + database + rest;
}

class ScratchDatabase {
  public:
    // `prefix`: lower-case letters and '_', naming what the database is for.
    explicit ScratchDatabase(const std::string& prefix)
        : name_(prefix + "_" + commons::RandomHex(6)),
          url_(WithDatabase(DatabaseUrl(), name_)),
          admin_(Settings(DatabaseUrl())) {
        Execute("CREATE DATABASE " + name_);
    }
    ~ScratchDatabase() {
        try {
            Execute("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
        } catch (const std::exception& error) {
            ADD_FAILURE() << "cannot drop database " << name_ << ": " << error.what();
        }
    }
    ScratchDatabase(const ScratchDatabase&) = delete;
    ScratchDatabase& operator=(const ScratchDatabase&) = delete;

    const std::string& url() const { return url_; }

  private:
    static commons::DbSettings Settings(const std::string& url) {
        commons::DbSettings settings;
        settings.url = url;
        settings.application_name = "scratch-database";
        settings.pool_size = 1;
        return settings;
    }

    // CREATE and DROP DATABASE cannot run inside a transaction block.
    void Execute(const std::string& sql) {
        commons::ConnectionLease lease = admin_.Acquire();
        pqxx::nontransaction statement(lease.connection());
        statement.exec(sql);
    }

    std::string name_;
    std::string url_;
    commons::ConnectionPool admin_;
};

}  // namespace test_support
