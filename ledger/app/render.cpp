#include "ledger/app/render.hpp"

#include <nlohmann/json.hpp>

namespace ledger::app {

namespace {

using nlohmann::json;

json OptionalMicros(const std::optional<Micros>& micros) {
    return micros ? json(UnixSeconds(*micros)) : json(nullptr);
}

json Balances(domain::NormalBalance side, const domain::Counters& c) {
    auto b = domain::ComputeBalances(side, c);
    return json{{"pending_debits", c.pending_debits},
                {"pending_credits", c.pending_credits},
                {"posted_debits", c.posted_debits},
                {"posted_credits", c.posted_credits},
                {"posted", b.posted},
                {"pending", b.pending},
                {"available", b.available}};
}

json ParsedObject(const std::string& text) {
    auto parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    return parsed.is_object() ? parsed : json::object();
}

}  // namespace

std::int64_t UnixSeconds(Micros micros) {
    return micros >= 0 ? micros / 1'000'000 : -((-micros + 999'999) / 1'000'000);
}

std::string BalancesJson(domain::NormalBalance side, const domain::Counters& counters) {
    return Balances(side, counters).dump();
}

std::string AccountJson(const AccountRecord& record) {
    const auto& a = record.account;
    json out{{"id", a.id},
             {"object", "account"},
             {"name", record.name},
             {"currency", a.currency},
             {"normal_balance", domain::NormalBalanceName(a.normal_balance)},
             {"flags",
              {{"debits_must_not_exceed_credits", a.flags.debits_must_not_exceed_credits},
               {"credits_must_not_exceed_debits", a.flags.credits_must_not_exceed_debits}}},
             {"metadata", ParsedObject(record.metadata_json)},
             {"closed", a.closed},
             {"lock_version", a.lock_version},
             {"created", UnixSeconds(record.created_at)},
             {"balances", Balances(a.normal_balance, a.counters)}};
    return out.dump();
}

std::string TransactionJson(const domain::Transaction& t) {
    json entries = json::array();
    for (std::size_t i = 0; i < t.entries.size(); ++i) {
        json entry{{"account_id", t.entries[i].account_id},
                   {"direction", domain::DirectionName(t.entries[i].direction)},
                   {"amount", t.entries[i].amount},
                   {"currency", i < t.currencies.size() ? t.currencies[i] : std::string()}};
        if (!t.posted_amounts.empty()) entry["posted_amount"] = t.posted_amounts[i];
        entries.push_back(std::move(entry));
    }
    json out{{"id", t.id},
             {"object", "transaction"},
             {"status", domain::StatusName(t.status)},
             {"entries", std::move(entries)},
             {"timeout_seconds", t.timeout_seconds ? json(*t.timeout_seconds) : json(nullptr)},
             {"expires_at", OptionalMicros(t.expires_at)},
             {"effective_at", UnixSeconds(t.effective_at)},
             {"description", t.description},
             {"metadata", ParsedObject(t.metadata_json)},
             {"reverses", t.reverses_id.empty() ? json(nullptr) : json(t.reverses_id)},
             {"reversed_by", t.reversed_by_id.empty() ? json(nullptr) : json(t.reversed_by_id)},
             {"created", UnixSeconds(t.created_at)}};
    return out.dump();
}

std::string EntryJson(const EntryRecord& record, domain::NormalBalance side) {
    const auto& e = record.entry;
    json out{{"id", "ent_" + std::to_string(record.id)},
             {"object", "entry"},
             {"transaction_id", e.transaction_id},
             {"account_id", e.account_id},
             {"currency", e.currency},
             {"direction", domain::DirectionName(e.direction)},
             {"kind", domain::JournalKindName(e.kind)},
             {"pending_delta", e.pending_delta},
             {"posted_delta", e.posted_delta},
             {"balances", Balances(side, e.after)},
             {"effective_at", UnixSeconds(e.effective_at)},
             {"created", UnixSeconds(record.created_at)}};
    return out.dump();
}

std::string VerifyReportJson(const VerifyReport& report) {
    json violations = json::array();
    for (const auto& v : report.violations) {
        violations.push_back({{"kind", v.kind}, {"subject", v.subject}, {"detail", v.detail}});
    }
    return json{{"ok", report.ok},
                {"accounts_checked", report.accounts_checked},
                {"transactions_checked", report.transactions_checked},
                {"entries_checked", report.entries_checked},
                {"violations", std::move(violations)}}
        .dump();
}

std::string EventDataJson(const std::string& object_json) {
    return "{\"object\":" + object_json + "}";
}

}  // namespace ledger::app
