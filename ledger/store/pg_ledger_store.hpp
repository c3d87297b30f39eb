#pragma once

// The ledger's PostgreSQL store: every statement is in pg_ledger_store.cpp, prepared, and
// set-based where many rows move. This header keeps libpqxx out of its includers.

#include <memory>
#include <string>

#include "ledger/app/ports.hpp"

namespace commons {
class ConnectionPool;
class Outbox;
}  // namespace commons

namespace ledger::store {

// The statements of ExecuteBatch, with the schema spliced in (built once, in the .cpp).
struct BatchStatements {
    std::string load_transactions;
    std::string lock_accounts;
    std::string update_accounts;
    std::string insert_transactions;
    std::string update_transactions;
    std::string insert_entries;
};

class PgLedgerStore final : public app::LedgerStore {
  public:
    // `schema` holds the ledger's tables (migrations applied); `outbox` writes its events.
    // Precondition: a valid schema name. Both references must outlive the store.
    PgLedgerStore(commons::ConnectionPool& pool, std::string schema, commons::Outbox& outbox);

    app::RegisterCurrencyStatus RegisterCurrency(const commons::Currency& currency) override;
    std::vector<commons::Currency> CustomCurrencies() override;
    app::CreateAccountOutcome CreateAccount(const app::NewAccount& account) override;
    std::optional<app::AccountRecord> FindAccount(const std::string& id) override;
    app::Page<app::AccountRecord> ListAccounts(const app::AccountFilter& filter,
                                               const app::PageQuery& page) override;
    std::optional<domain::Counters> CountersAsOf(const std::string& account_id,
                                                 app::Micros as_of) override;
    std::optional<app::Page<app::EntryRecord>> ListEntries(const std::string& account_id,
                                                           const app::PageQuery& page) override;
    app::CloseOutcome SetClosed(const std::string& account_id, bool closed) override;
    app::BatchResult ExecuteBatch(const std::vector<domain::Command>& commands,
                                  domain::Atomicity atomicity, app::Micros now) override;
    std::optional<domain::Transaction> FindTransaction(const std::string& id) override;
    app::Page<domain::Transaction> ListTransactions(const app::TransactionFilter& filter,
                                                    const app::PageQuery& page) override;
    std::vector<std::string> DueForExpiry(app::Micros now, std::size_t limit) override;
    app::VerifyReport Verify() override;

  private:
    commons::ConnectionPool& pool_;
    std::string schema_;
    commons::Outbox& outbox_;
    std::unique_ptr<const BatchStatements> batch_statements_;
};

}  // namespace ledger::store
