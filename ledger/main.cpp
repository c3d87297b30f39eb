// Composition root of the ledger service: the double-entry source of truth for balances.
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "commons/config.hpp"
#include "commons/db.hpp"
#include "commons/events.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/migrations.hpp"
#include "ledger/api/routes.hpp"
#include "ledger/app/ledger.hpp"
#include "ledger/app/render.hpp"
#include "ledger/store/pg_ledger_store.hpp"
#include "middleware/service_host.hpp"

namespace ledger {
const std::vector<commons::Migration>& Migrations();  // generated from migrations/*.sql

namespace {

using namespace std::chrono_literals;

// The store and the use cases, alive while the server runs; the sweeper stops first.
class LedgerParts final : public middleware::ServiceParts {
  public:
    LedgerParts(middleware::ServiceContext& context, app::GroupCommitSettings group_commit)
        : store_(context.database.primary(), "ledger", context.outbox),
          ledger_(store_, context.ids, context.logger, context.metrics, app::SystemMicros,
                  group_commit) {}
    ~LedgerParts() override { ledger_.StopSweeper(); }

    app::Ledger& ledger() { return ledger_; }

  private:
    store::PgLedgerStore store_;
    app::Ledger ledger_;
};

int Verify(commons::ConnectionPool& pool, const std::string& schema, commons::Logger&) {
    commons::IdGenerator ids;
    commons::Outbox outbox(schema, ids);
    store::PgLedgerStore store(pool, schema, outbox);
    auto report = store.Verify();
    std::printf("%s\n", app::VerifyReportJson(report).c_str());
    return report.ok ? 0 : 1;
}

}  // namespace
}  // namespace ledger

int main(int argc, char** argv) {
    return middleware::RunService(
        {.name = "ledger",
         .default_port = 8081,
         .migrations = ledger::Migrations(),
         .default_blocking_threads = 128,
         .add_routes =
             [](middleware::ServiceContext& context, commons::http::Router& router) {
                 using namespace std::chrono_literals;
                 const auto& env = context.env;
                 ledger::app::GroupCommitSettings group_commit;
                 group_commit.committers = static_cast<std::size_t>(
                     env.Int("PAYMENTS_LEDGER_GROUP_COMMIT_COMMITTERS", 4, 1, 16));
                 group_commit.batch_max = static_cast<std::size_t>(
                     env.Int("PAYMENTS_LEDGER_GROUP_COMMIT_BATCH_MAX", 512, 1, 4096));
                 group_commit.linger = std::chrono::duration_cast<std::chrono::microseconds>(
                     env.Duration("PAYMENTS_LEDGER_GROUP_COMMIT_LINGER", 0ms, 0ms, 100ms));
                 group_commit.queue_max = static_cast<std::size_t>(
                     env.Int("PAYMENTS_LEDGER_GROUP_COMMIT_QUEUE_MAX", 20000, 1, 1000000));
                 auto parts = std::make_unique<ledger::LedgerParts>(context, group_commit);
                 ledger::api::AddRoutes(parts->ledger(), router);
                 ledger::app::SweeperSettings sweeper;
                 sweeper.interval = context.env.Duration("PAYMENTS_LEDGER_EXPIRY_SWEEP_INTERVAL",
                                                         1000ms, 10ms, 3600s);
                 parts->ledger().StartSweeper(sweeper);
                 return std::unique_ptr<middleware::ServiceParts>(std::move(parts));
             },
         .commands = {{"verify",
                       "recompute the ledger's invariants from its journal; exit 1 on a violation",
                       ledger::Verify}}},
        argc, argv);
}
