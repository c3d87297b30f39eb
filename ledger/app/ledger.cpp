#include "ledger/app/ledger.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>

#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"

namespace ledger::app {

Micros SystemMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Ledger::Ledger(LedgerStore& store, commons::IdGenerator& ids, commons::Logger& logger,
               commons::Metrics& metrics, Clock clock,
               std::optional<GroupCommitSettings> group_commit)
    : store_(store),
      ids_(ids),
      logger_(logger),
      clock_(std::move(clock)),
      commands_total_(prometheus::BuildCounter()
                          .Name("ledger_commands_total")
                          .Help("Ledger commands by kind and result code")
                          .Register(metrics.registry())) {
    if (group_commit) {
        committer_ = std::make_unique<GroupCommitter>(
            *group_commit,
            [this](const std::vector<domain::Command>& commands, domain::Atomicity atomicity) {
                return store_.ExecuteBatch(commands, atomicity, clock_());
            },
            metrics);
    }
}

void Ledger::CountResults(const std::vector<domain::Command>& commands, const BatchResult& result) {
    static constexpr const char* kNames[] = {"create", "post", "void", "expire", "reverse"};
    for (std::size_t i = 0; i < commands.size() && i < result.outcome.results.size(); ++i) {
        commands_total_
            .Add({{"command", kNames[commands[i].index()]},
                  {"result", std::string(domain::ResultCodeName(result.outcome.results[i].code))}})
            .Increment();
    }
}

Ledger::~Ledger() {
    StopSweeper();
    if (committer_) committer_->Stop();
}

std::optional<commons::Currency> Ledger::FindCurrency(const std::string& code) {
    if (auto found = currencies_.Find(code)) return found;
    for (const auto& currency : store_.CustomCurrencies()) currencies_.Register(currency);
    return currencies_.Find(code);
}

std::vector<commons::Currency> Ledger::Currencies() {
    for (const auto& currency : store_.CustomCurrencies()) currencies_.Register(currency);
    return currencies_.All();
}

CurrencyStatus Ledger::RegisterCurrency(const commons::Currency& currency) {
    if (!commons::IsValidCurrencyCode(currency.code) || currency.exponent < 0 ||
        currency.exponent > commons::kCurrencyExponentMax) {
        return CurrencyStatus::kInvalid;
    }
    for (const auto& iso : commons::IsoCurrencies()) {
        if (iso.code == currency.code) {
            return iso.exponent == currency.exponent ? CurrencyStatus::kExisting
                                                     : CurrencyStatus::kConflict;
        }
    }
    switch (store_.RegisterCurrency(currency)) {
        case RegisterCurrencyStatus::kCreated:
            currencies_.Register(currency);
            return CurrencyStatus::kCreated;
        case RegisterCurrencyStatus::kExisting:
            return CurrencyStatus::kExisting;
        case RegisterCurrencyStatus::kConflict:
            return CurrencyStatus::kConflict;
    }
    return CurrencyStatus::kConflict;
}

CreateAccountOutcome Ledger::CreateAccount(NewAccount account) {
    if (account.id.empty()) account.id = ids_.Next("acct");
    return store_.CreateAccount(account);
}

BatchResult Ledger::Execute(const std::vector<domain::Command>& commands,
                            domain::Atomicity atomicity) {
    BatchResult result = committer_ && !commands.empty()
                             ? committer_->Submit(commands, atomicity)
                             : store_.ExecuteBatch(commands, atomicity, clock_());
    CountResults(commands, result);
    return result;
}

std::size_t Ledger::ExpireDue(std::size_t limit) {
    const Micros now = clock_();
    auto ids = store_.DueForExpiry(now, limit);
    if (ids.empty()) return 0;
    std::vector<domain::Command> commands;
    commands.reserve(ids.size());
    for (auto& id : ids) commands.emplace_back(domain::ExpirePending{std::move(id)});
    auto result = store_.ExecuteBatch(commands, domain::Atomicity::kIndependent, now);
    CountResults(commands, result);
    std::size_t expired = 0;
    for (const auto& r : result.outcome.results) {
        // Posted or voided between the scan and the batch: nothing to expire.
        if (r.code == domain::ResultCode::kOk) ++expired;
    }
    return expired;
}

void Ledger::StartSweeper(SweeperSettings settings) {
    sweeper_.Start([this, settings] {
        bool failing = false;
        while (!sweeper_.stopping()) {
            std::size_t expired = 0;
            try {
                expired = ExpireDue(settings.batch_max);
                if (failing) logger_.Info("expiry sweeper recovered");
                failing = false;
                if (expired > 0) logger_.Info("expired pending transactions", {{"count", expired}});
            } catch (const std::exception& error) {
                if (!failing) logger_.Warn("expiry sweeper failed", {{"error", error.what()}});
                failing = true;
            }
            // A full batch means more may be due: look again at once.
            if (expired < settings.batch_max && !sweeper_.WaitFor(settings.interval)) break;
        }
    });
}

void Ledger::StopSweeper() { sweeper_.Stop(); }

}  // namespace ledger::app
