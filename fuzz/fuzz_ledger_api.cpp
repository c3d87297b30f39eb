// The ledger's HTTP API readers (ledger/api/routes.cpp) through its public interface: the
// service's own routes (ledger::api::AddRoutes) on a ledger::app::Ledger whose store is an
// in-memory LedgerStore running the real state machine (ledger::domain::Apply), so requests
// that pass the readers are executed too. For each input, on a fresh ledger holding a few
// accounts and transactions, the input is sent
//   - as the JSON body of every POST route (path parameters naming fixture objects), and
//   - as the query string of every GET route, unless the server would refuse it first
//     (commons::http::CheckQuery).
// Asserted:
//   - no handler throws (the error boundary would turn it into a 500) and every answer is
//     200, 201, 400, 404, 409, 415 or 422 with a JSON body, errors in the error shape;
//   - after every request the books balance: per currency, debits equal credits (posted and
//     pending), counters are valid and balance constraints hold (the state machine asserts
//     its own invariants too);
//   - pages the store is asked for have a limit of 1 to 100 and at most one cursor;
//   - an as_of in the documented forms (Unix seconds, RFC 3339 with Z or an offset) is
//     accepted and read as the instant it names (checked against std::chrono's calendar);
//   - the idempotency fingerprint of the body never fails and ignores JSON formatting.
// An input "DEEP<n><rest>" is a body nested n * 256 levels deep (fuzz/json_body.hpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "commons/http/router.hpp"
#include "commons/http/types.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "http/exchange.hpp"
#include "json_body.hpp"
#include "ledger/api/routes.hpp"
#include "ledger/app/ledger.hpp"
#include "ledger/app/ports.hpp"
#include "ledger/domain/state_machine.hpp"

namespace {

namespace app = ledger::app;
namespace domain = ledger::domain;
using commons::http::Method;
using commons::http::Request;
using commons::http::Response;
using domain::Micros;

constexpr Micros kNow = 1'700'000'000'000'000;

// The ledger's time reader also accepts text outside the documented forms ("2026-01-01T-1:00:00Z",
// "2026-02-31T00:00:00Z"; fuzz/README.md, "Known issues"), so only its acceptance of the
// documented forms is checked unless FUZZ_STRICT_TIMES is set.
const bool kStrictTimes = std::getenv("FUZZ_STRICT_TIMES") != nullptr;

// The ledger's storage in memory: what PgLedgerStore does, without SQL.
class MemoryLedgerStore final : public app::LedgerStore {
  public:
    std::optional<Micros> counters_as_of;  // what the last CountersAsOf was asked

    app::RegisterCurrencyStatus RegisterCurrency(const commons::Currency& currency) override {
        for (const auto& existing : currencies_) {
            if (existing.code == currency.code) {
                return existing.exponent == currency.exponent
                           ? app::RegisterCurrencyStatus::kExisting
                           : app::RegisterCurrencyStatus::kConflict;
            }
        }
        currencies_.push_back(currency);
        return app::RegisterCurrencyStatus::kCreated;
    }
    std::vector<commons::Currency> CustomCurrencies() override { return currencies_; }

    app::CreateAccountOutcome CreateAccount(const app::NewAccount& account) override {
        app::CreateAccountOutcome outcome;
        auto found = accounts_.find(account.id);
        if (found == accounts_.end()) {
            app::AccountRecord record;
            record.account.id = account.id;
            record.account.currency = account.currency;
            record.account.normal_balance = account.normal_balance;
            record.account.flags = account.flags;
            record.name = account.name;
            record.metadata_json = account.metadata_json;
            record.created_at = kNow;
            accounts_.emplace(account.id, record);
            outcome.record = record;
            return outcome;
        }
        outcome.record = found->second;
        const auto& stored = found->second;
        if (stored.account.currency != account.currency) {
            outcome.differing_fields.emplace_back("currency");
        }
        if (stored.account.normal_balance != account.normal_balance) {
            outcome.differing_fields.emplace_back("normal_balance");
        }
        if (stored.name != account.name) outcome.differing_fields.emplace_back("name");
        if (!(stored.account.flags == account.flags))
            outcome.differing_fields.emplace_back("flags");
        if (nlohmann::json::parse(stored.metadata_json) !=
            nlohmann::json::parse(account.metadata_json)) {
            outcome.differing_fields.emplace_back("metadata");
        }
        outcome.status = outcome.differing_fields.empty()
                             ? app::CreateAccountStatus::kExisting
                             : app::CreateAccountStatus::kExistsWithDifferentFields;
        return outcome;
    }

    std::optional<app::AccountRecord> FindAccount(const std::string& id) override {
        auto found = accounts_.find(id);
        if (found == accounts_.end()) return std::nullopt;
        return found->second;
    }

    app::Page<app::AccountRecord> ListAccounts(const app::AccountFilter& filter,
                                               const app::PageQuery& page) override {
        CheckPage(page);
        app::Page<app::AccountRecord> out;
        for (const auto& [id, record] : accounts_) {
            if (filter.currency && record.account.currency != *filter.currency) continue;
            if (out.items.size() == page.limit) {
                out.has_more = true;
                break;
            }
            out.items.push_back(record);
        }
        return out;
    }

    std::optional<domain::Counters> CountersAsOf(const std::string& account_id,
                                                 Micros as_of) override {
        counters_as_of = as_of;
        auto found = accounts_.find(account_id);
        if (found == accounts_.end()) return std::nullopt;
        return found->second.account.counters;
    }

    std::optional<app::Page<app::EntryRecord>> ListEntries(const std::string& account_id,
                                                           const app::PageQuery& page) override {
        CheckPage(page);
        if (!accounts_.count(account_id)) return std::nullopt;
        app::Page<app::EntryRecord> out;
        for (const auto& entry : journal_) {
            if (entry.entry.account_id != account_id) continue;
            if (out.items.size() == page.limit) {
                out.has_more = true;
                break;
            }
            out.items.push_back(entry);
        }
        return out;
    }

    app::CloseOutcome SetClosed(const std::string& account_id, bool closed) override {
        app::CloseOutcome outcome;
        auto found = accounts_.find(account_id);
        if (found == accounts_.end()) {
            outcome.status = app::CloseStatus::kNotFound;
            return outcome;
        }
        domain::Account& account = found->second.account;
        if (closed) {
            switch (domain::Close(account)) {
                case domain::CloseResult::kOk:
                    break;
                case domain::CloseResult::kHasPending:
                    outcome.status = app::CloseStatus::kHasPending;
                    break;
                case domain::CloseResult::kAlreadyClosed:
                    outcome.status = app::CloseStatus::kAlreadyClosed;
                    break;
            }
        } else if (domain::Reopen(account) == domain::ReopenResult::kNotClosed) {
            outcome.status = app::CloseStatus::kNotClosed;
        }
        outcome.record = found->second;
        return outcome;
    }

    app::BatchResult ExecuteBatch(const std::vector<domain::Command>& commands,
                                  domain::Atomicity atomicity, Micros now) override {
        domain::BatchState state;
        std::set<std::string> account_ids;
        for (const auto& command : commands) {
            for (const auto& id : domain::TransactionIdsOf(command)) {
                auto found = transactions_.find(id);
                if (found == transactions_.end()) continue;
                state.transactions.insert_or_assign(id, found->second);
                for (const auto& entry : found->second.entries)
                    account_ids.insert(entry.account_id);
            }
            if (const auto* create = std::get_if<domain::CreateTransaction>(&command)) {
                for (const auto& entry : create->entries) account_ids.insert(entry.account_id);
            }
        }
        for (const auto& id : account_ids) {
            auto found = accounts_.find(id);
            if (found != accounts_.end()) state.accounts.emplace(id, found->second.account);
        }
        app::BatchResult result;
        result.outcome = domain::Apply(state, commands, now, atomicity);
        for (const auto& id : result.outcome.changed_accounts) {
            accounts_.at(id).account = state.accounts.at(id);
        }
        for (const auto& id : result.outcome.created_transactions) {
            FUZZ_CHECK(!transactions_.count(id));
            transactions_[id] = state.transactions.at(id);
        }
        for (const auto& id : result.outcome.updated_transactions) {
            transactions_.at(id) = state.transactions.at(id);
        }
        for (const auto& entry : result.outcome.journal) {
            journal_.push_back({static_cast<std::int64_t>(journal_.size() + 1), entry, now});
        }
        for (const auto& command_result : result.outcome.results) {
            auto found = state.transactions.find(command_result.transaction_id);
            if (found != state.transactions.end()) result.transactions.insert(*found);
        }
        return result;
    }

    std::optional<domain::Transaction> FindTransaction(const std::string& id) override {
        auto found = transactions_.find(id);
        if (found == transactions_.end()) return std::nullopt;
        return found->second;
    }

    app::Page<domain::Transaction> ListTransactions(const app::TransactionFilter& filter,
                                                    const app::PageQuery& page) override {
        CheckPage(page);
        app::Page<domain::Transaction> out;
        for (const auto& [id, transaction] : transactions_) {
            if (filter.status && transaction.status != *filter.status) continue;
            if (out.items.size() == page.limit) {
                out.has_more = true;
                break;
            }
            out.items.push_back(transaction);
        }
        return out;
    }

    std::vector<std::string> DueForExpiry(Micros, std::size_t) override { return {}; }
    app::VerifyReport Verify() override { return {}; }

    // The books balance: per currency, the debits of all accounts equal their credits, posted
    // and pending; every account's counters are valid and satisfy its flags.
    void CheckInvariants() const {
        __extension__ using Wide = __int128;
        struct Sums {
            Wide pending_debits = 0, pending_credits = 0, posted_debits = 0, posted_credits = 0;
        };
        std::map<std::string, Sums> by_currency;
        for (const auto& [id, record] : accounts_) {
            const domain::Counters& c = record.account.counters;
            FUZZ_CHECK_WITH(domain::CountersValid(c), id);
            FUZZ_CHECK_WITH(domain::FlagsSatisfied(record.account.flags, c), id);
            Sums& sums = by_currency[record.account.currency];
            sums.pending_debits += c.pending_debits;
            sums.pending_credits += c.pending_credits;
            sums.posted_debits += c.posted_debits;
            sums.posted_credits += c.posted_credits;
        }
        for (const auto& [currency, sums] : by_currency) {
            FUZZ_CHECK_WITH(sums.posted_debits == sums.posted_credits, currency);
            FUZZ_CHECK_WITH(sums.pending_debits == sums.pending_credits, currency);
        }
    }

  private:
    static void CheckPage(const app::PageQuery& page) {
        FUZZ_CHECK(page.limit >= 1 && page.limit <= 100);
        FUZZ_CHECK(!(page.starting_after && page.ending_before));
    }

    std::vector<commons::Currency> currencies_;
    std::map<std::string, app::AccountRecord, std::less<>> accounts_;
    std::map<std::string, domain::Transaction, std::less<>> transactions_;
    std::vector<app::EntryRecord> journal_;
};

// A few accounts in three currencies and a pending and a posted transaction between them.
void AddFixture(app::Ledger& ledger, MemoryLedgerStore& store) {
    FUZZ_CHECK(ledger.RegisterCurrency({"USDC", 6}) == app::CurrencyStatus::kCreated);
    auto add = [&ledger](std::string id, std::string currency, domain::NormalBalance side,
                         bool no_overdraft) {
        app::NewAccount account;
        account.id = std::move(id);
        account.currency = std::move(currency);
        account.normal_balance = side;
        account.flags.debits_must_not_exceed_credits = no_overdraft;
        ledger.CreateAccount(account);
    };
    add("acct_cash", "USD", domain::NormalBalance::kDebit, false);
    add("acct_revenue", "USD", domain::NormalBalance::kCredit, false);
    add("acct_wallet", "USD", domain::NormalBalance::kCredit, true);
    add("acct_eur_cash", "EUR", domain::NormalBalance::kDebit, false);
    add("acct_eur_revenue", "EUR", domain::NormalBalance::kCredit, false);
    add("acct_usdc", "USDC", domain::NormalBalance::kDebit, false);
    add("acct_closed", "USD", domain::NormalBalance::kDebit, false);
    store.SetClosed("acct_closed", true);

    auto transfer = [](std::string id, std::string from, std::string to, std::int64_t amount,
                       bool pending) {
        domain::CreateTransaction create;
        create.id = std::move(id);
        create.entries = {{std::move(from), domain::Direction::kDebit, amount, std::nullopt},
                          {std::move(to), domain::Direction::kCredit, amount, std::nullopt}};
        create.pending = pending;
        if (pending) create.timeout_seconds = 3600;
        return domain::Command{create};
    };
    const auto result =
        ledger.Execute({transfer("txn_posted", "acct_cash", "acct_wallet", 10'000, false),
                        transfer("txn_pending", "acct_cash", "acct_revenue", 2'500, true),
                        transfer("txn_eur", "acct_eur_cash", "acct_eur_revenue", 700, false)},
                       domain::Atomicity::kAllOrNothing);
    for (const auto& r : result.outcome.results) FUZZ_CHECK(r.code == domain::ResultCode::kOk);
}

// The fixture object a path parameter names.
std::string PathFor(const std::string& path_template) {
    std::string id = "x";
    if (path_template.find("/accounts/") != std::string::npos) {
        id = "acct_cash";
    } else if (path_template.find("/transactions/") != std::string::npos) {
        id = path_template.ends_with("/reverse") ? "txn_posted" : "txn_pending";
    }
    std::string path;
    std::string_view rest = path_template;
    while (!rest.empty()) {
        const auto open = rest.find('{');
        if (open == std::string_view::npos) {
            path += rest;
            break;
        }
        path += rest.substr(0, open);
        rest.remove_prefix(rest.find('}', open) + 1);
        path += id;
    }
    return path;
}

// 1 to 11 digits, or YYYY-MM-DDTHH:MM:SS[.f+](Z|z|+HH:MM|-HH:MM) naming a real date and time.
std::optional<Micros> ReferenceTime(std::string_view text) {
    auto digits = [&text](std::size_t at, std::size_t count) -> std::optional<std::int64_t> {
        if (at + count > text.size()) return std::nullopt;
        std::int64_t value = 0;
        for (std::size_t i = at; i < at + count; ++i) {
            if (text[i] < '0' || text[i] > '9') return std::nullopt;
            value = value * 10 + (text[i] - '0');
        }
        return value;
    };
    if (!text.empty() && text.size() <= 11 && digits(0, text.size())) {
        return static_cast<Micros>(std::stoll(std::string(text))) * 1'000'000;
    }
    const auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2), hour = digits(11, 2),
               minute = digits(14, 2), second = digits(17, 2);
    if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' ||
        text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':') {
        return std::nullopt;
    }
    using namespace std::chrono;
    const year_month_day date{std::chrono::year(static_cast<int>(*year)),
                              std::chrono::month(static_cast<unsigned>(*month)),
                              std::chrono::day(static_cast<unsigned>(*day))};
    if (!date.ok() || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;
    std::size_t at = 19;
    Micros micros = 0;
    if (at < text.size() && text[at] == '.') {
        std::size_t count = 0;
        for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++count) {
            if (count < 6) micros = micros * 10 + (text[at] - '0');
        }
        if (count == 0) return std::nullopt;
        for (; count < 6; ++count) micros *= 10;
    }
    Micros offset = 0;
    if (at + 1 == text.size() && (text[at] == 'Z' || text[at] == 'z')) {
        // UTC
    } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') &&
               text[at + 3] == ':') {
        const auto offset_hours = digits(at + 1, 2), offset_minutes = digits(at + 4, 2);
        if (!offset_hours || !offset_minutes || *offset_hours > 23 || *offset_minutes > 59) {
            return std::nullopt;
        }
        offset = (*offset_hours * 3600 + *offset_minutes * 60) * (text[at] == '+' ? 1 : -1);
    } else {
        return std::nullopt;
    }
    const auto seconds = sys_days(date).time_since_epoch().count() * 86400LL + *hour * 3600 +
                         *minute * 60 + *second - offset;
    return seconds * 1'000'000 + micros;
}

void CheckResponse(const Request& request, const Response& response) {
    const std::string where = commons::http::MethodName(request.method).data() + std::string(" ") +
                              request.target + " -> " + std::to_string(response.status) + " " +
                              response.body;
    const int s = response.status;
    FUZZ_CHECK_WITH(
        s == 200 || s == 201 || s == 400 || s == 404 || s == 409 || s == 415 || s == 422, where);
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    FUZZ_CHECK_WITH(body.is_object(), where);
    if (s >= 400) {
        FUZZ_CHECK_WITH(body.contains("error") && body["error"].is_object() &&
                            body["error"].contains("code") && body["error"]["code"].is_string() &&
                            !body["error"]["code"].get<std::string>().empty(),
                        where);
    }
}

struct Shared {
    std::FILE* null_output = std::fopen("/dev/null", "w");
    commons::Logger logger{"fuzz", null_output, commons::LogLevel::kError};
    commons::IdGenerator ids;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Shared shared;
    const std::string input =
        fuzz::BodyOf(std::string_view(reinterpret_cast<const char*>(data), size));
    fuzz::CheckBodyFingerprint(input);

    commons::Metrics metrics;
    MemoryLedgerStore store;
    app::Ledger ledger(
        store, shared.ids, shared.logger, metrics, [] { return kNow; }, std::nullopt);
    AddFixture(ledger, store);
    commons::http::Router router;
    ledger::api::AddRoutes(ledger, router);
    store.CheckInvariants();

    const bool query_refused = commons::http::CheckQuery(input).has_value();
    for (const auto& route : router.routes()) {
        Request request;
        request.method = route.method;
        request.path = PathFor(route.path_template);
        if (route.method == Method::kGet) {
            if (query_refused || input.find('#') != std::string::npos) continue;
            request.query = input;
            request.target = request.path + "?" + input;
        } else {
            request.target = request.path;
            request.body = input;
            request.headers.emplace_back("content-type", "application/json");
        }
        request.received = std::chrono::steady_clock::now();
        request.deadline = request.received + std::chrono::seconds(30);
        const auto routed = commons::http::internal::RouteRequest(router, request);
        FUZZ_CHECK_WITH(routed.matched == &route, request.path);

        store.counters_as_of.reset();
        Response response;
        try {
            response = route.handler(request);
        } catch (const std::exception& error) {
            fuzz::CheckFailed("the handler threw", __FILE__, __LINE__,
                              request.target + ": " + error.what());
        }
        CheckResponse(request, response);
        store.CheckInvariants();

        if (route.path_template == "/v1/accounts/{id}/balance") {
            if (const auto as_of = request.QueryParam("as_of")) {
                const auto expected = ReferenceTime(*as_of);
                if (expected) {
                    FUZZ_CHECK_WITH(response.status == 200 && store.counters_as_of == expected,
                                    *as_of);
                } else if (kStrictTimes) {
                    FUZZ_CHECK_WITH(response.status == 400, *as_of);
                }
            }
        }
    }
    return 0;
}
