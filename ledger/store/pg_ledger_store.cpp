#include "ledger/store/pg_ledger_store.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "commons/assert.hpp"
#include "commons/db_transaction.hpp"
#include "commons/events.hpp"
#include "commons/migrations.hpp"
#include "commons/pg_array.hpp"
#include "ledger/app/render.hpp"

namespace ledger::store {

namespace {

using commons::PgArrayBuilder;
using domain::Micros;

// A batch whose new transaction id was inserted concurrently by another batch (with disjoint
// accounts, so no lock ordered them) is run again: the second run sees the stored transaction
// and replays or refuses it.
constexpr int kUniqueViolationAttemptsMax = 3;
// Violations listed per kind by verify: enough to act on, bounded for a broken ledger.
constexpr int kViolationsPerKindMax = 100;

// Every statement, with {S} standing for the schema.
constexpr const char* kAccountColumns =
    "id, currency, normal_balance, debits_must_not_exceed_credits, "
    "credits_must_not_exceed_debits, closed, lock_version, pending_debits, pending_credits, "
    "posted_debits, posted_credits, name, metadata::text, "
    "(extract(epoch FROM created_at) * 1000000)::bigint";

constexpr const char* kTransactionColumns =
    "id, status, created_pending, account_ids, directions, amounts, currencies, posted_amounts, "
    "timeout_seconds, (extract(epoch FROM expires_at) * 1000000)::bigint, "
    "(extract(epoch FROM effective_at) * 1000000)::bigint, description, metadata::text, "
    "coalesce(reverses_id, ''), coalesce(reversed_by_id, ''), "
    "(extract(epoch FROM created_at) * 1000000)::bigint";

constexpr const char* kMicrosToTimestamp = "'epoch'::timestamptz + interval '1 microsecond' * ";

std::string WithSchema(std::string sql, const std::string& schema) {
    for (std::size_t at = sql.find("{S}"); at != std::string::npos; at = sql.find("{S}", at)) {
        sql.replace(at, 3, schema);
    }
    return sql;
}

domain::Account ReadAccount(const pqxx::row& row) {
    domain::Account a;
    a.id = row[0].as<std::string>();
    a.currency = row[1].as<std::string>();
    a.normal_balance = *domain::ParseNormalBalance(row[2].as<std::string>());
    a.flags.debits_must_not_exceed_credits = row[3].as<bool>();
    a.flags.credits_must_not_exceed_debits = row[4].as<bool>();
    a.closed = row[5].as<bool>();
    a.lock_version = row[6].as<std::int64_t>();
    a.counters.pending_debits = row[7].as<std::int64_t>();
    a.counters.pending_credits = row[8].as<std::int64_t>();
    a.counters.posted_debits = row[9].as<std::int64_t>();
    a.counters.posted_credits = row[10].as<std::int64_t>();
    // Pair the assertion across the boundary: what was written valid is read back valid.
    PAY_ASSERT(domain::CountersValid(a.counters));
    return a;
}

app::AccountRecord ReadAccountRecord(const pqxx::row& row) {
    app::AccountRecord record;
    record.account = ReadAccount(row);
    record.name = row[11].as<std::string>();
    record.metadata_json = row[12].as<std::string>();
    record.created_at = row[13].as<std::int64_t>();
    return record;
}

std::vector<std::string> TextArray(const pqxx::field& field) {
    std::vector<std::string> out;
    for (auto& value : commons::ParsePgArray(field.c_str())) out.push_back(value.value_or(""));
    return out;
}

std::vector<std::int64_t> IntArray(const pqxx::field& field) {
    std::vector<std::int64_t> out;
    for (auto& value : commons::ParsePgArray(field.c_str())) {
        out.push_back(std::stoll(value.value_or("0")));
    }
    return out;
}

domain::Transaction ReadTransaction(const pqxx::row& row) {
    domain::Transaction t;
    t.id = row[0].as<std::string>();
    t.status = *domain::ParseStatus(row[1].as<std::string>());
    t.created_pending = row[2].as<bool>();
    auto account_ids = TextArray(row[3]);
    auto directions = TextArray(row[4]);
    auto amounts = IntArray(row[5]);
    t.currencies = TextArray(row[6]);
    PAY_ASSERT(account_ids.size() == directions.size() && amounts.size() == account_ids.size());
    for (std::size_t i = 0; i < account_ids.size(); ++i) {
        t.entries.push_back(
            {account_ids[i], *domain::ParseDirection(directions[i]), amounts[i], {}});
    }
    if (!row[7].is_null()) t.posted_amounts = IntArray(row[7]);
    if (!row[8].is_null()) t.timeout_seconds = row[8].as<std::int64_t>();
    if (!row[9].is_null()) t.expires_at = row[9].as<std::int64_t>();
    t.effective_at = row[10].as<std::int64_t>();
    t.description = row[11].as<std::string>();
    // jsonb prints with spaces and its own key order; compare and render the api's canonical
    // form (sorted keys, no spaces) so a retry with the same metadata replays.
    t.metadata_json = nlohmann::json::parse(row[12].c_str()).dump();
    t.reverses_id = row[13].as<std::string>();
    t.reversed_by_id = row[14].as<std::string>();
    t.created_at = row[15].as<std::int64_t>();
    return t;
}

// The keyset condition and order of a newest-first page over `seq`.
struct PageSql {
    std::string condition;  // "" or "AND seq < (...)"
    std::string order;
    std::string cursor;
};

PageSql PageClauses(const app::PageQuery& page, const std::string& table, int cursor_param) {
    PageSql sql;
    const std::string param = "$" + std::to_string(cursor_param);
    if (page.ending_before) {
        sql.condition = " AND seq > (SELECT seq FROM " + table + " WHERE id = " + param + ")";
        sql.order = " ORDER BY seq ASC";
        sql.cursor = *page.ending_before;
    } else {
        sql.condition = page.starting_after
                            ? " AND seq < (SELECT seq FROM " + table + " WHERE id = " + param + ")"
                            : " AND " + param + " = " + param;
        sql.order = " ORDER BY seq DESC";
        sql.cursor = page.starting_after.value_or("");
    }
    return sql;
}

template <typename T>
app::Page<T> FinishPage(std::vector<T> items, const app::PageQuery& page) {
    app::Page<T> out;
    out.has_more = items.size() > page.limit;
    if (out.has_more) items.resize(page.limit);
    if (page.ending_before) std::reverse(items.begin(), items.end());
    out.items = std::move(items);
    return out;
}

void Prepare(pqxx::dbtransaction& tx, const char* name, const std::string& sql) {
    // libpqxx registers a name once per connection and prepares it on first use (again after a
    // reconnect); redefining it with the same text is a no-op.
    tx.conn().prepare(name, sql);
}

std::unique_ptr<const BatchStatements> MakeBatchStatements(const std::string& schema) {
    auto owned = std::make_unique<BatchStatements>();
    BatchStatements& statements = *owned;
    statements.load_transactions =
        WithSchema(std::string("SELECT ") + kTransactionColumns +
                       " FROM {S}.transactions WHERE id = ANY($1::text[])",
                   schema);
    statements.lock_accounts =
        WithSchema(std::string("SELECT ") + kAccountColumns +
                       " FROM {S}.accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
                   schema);
    statements.update_accounts = WithSchema(
        "UPDATE {S}.accounts a SET pending_debits = u.pd, pending_credits = u.pc, "
        "posted_debits = u.psd, posted_credits = u.psc, lock_version = u.lv, updated_at = now() "
        "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], "
        "$6::bigint[]) AS u(id, pd, pc, psd, psc, lv) WHERE a.id = u.id",
        schema);
    statements.insert_transactions = WithSchema(
        std::string("INSERT INTO {S}.transactions (id, status, created_pending, account_ids, "
                    "directions, amounts, currencies, posted_amounts, timeout_seconds, expires_at, "
                    "effective_at, description, metadata, reverses_id, created_at) "
                    "SELECT u.id, u.status, u.created_pending, u.account_ids::text[], "
                    "u.directions::text[], u.amounts::bigint[], u.currencies::text[], "
                    "u.posted::bigint[], u.timeout, ") +
            kMicrosToTimestamp + "u.expires, " + kMicrosToTimestamp + "u.effective, " +
            "u.description, u.metadata::jsonb, NULLIF(u.reverses, ''), " + kMicrosToTimestamp +
            "u.created FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::text[], "
            "$6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], "
            "$12::text[], $13::text[], $14::text[], $15::bigint[]) WITH ORDINALITY AS u(id, "
            "status, created_pending, account_ids, directions, amounts, currencies, posted, "
            "timeout, expires, effective, description, metadata, reverses, created, n) ORDER BY n",
        schema);
    statements.update_transactions = WithSchema(
        "UPDATE {S}.transactions t SET status = u.status, posted_amounts = u.posted::bigint[], "
        "reversed_by_id = NULLIF(u.reversed_by, ''), updated_at = now() "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(id, status, posted, "
        "reversed_by) WHERE t.id = u.id",
        schema);
    statements.insert_entries = WithSchema(
        std::string("INSERT INTO {S}.entries (transaction_id, account_id, currency, direction, "
                    "kind, pending_delta, posted_delta, pending_debits, pending_credits, "
                    "posted_debits, posted_credits, effective_at, created_at) "
                    "SELECT u.t, u.a, u.c, u.d, u.k, u.pd, u.psd, u.a1, u.a2, u.a3, u.a4, ") +
            kMicrosToTimestamp +
            "u.e, clock_timestamp() FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
            "$5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], "
            "$11::bigint[], $12::bigint[]) WITH ORDINALITY AS u(t, a, c, d, k, pd, psd, a1, a2, "
            "a3, a4, e, n) ORDER BY n",
        schema);

    return owned;
}

}  // namespace

PgLedgerStore::PgLedgerStore(commons::ConnectionPool& pool, std::string schema,
                             commons::Outbox& outbox)
    : pool_(pool), schema_(std::move(schema)), outbox_(outbox) {
    PAY_ASSERT(commons::IsValidSchemaName(schema_));
    // Built once: the batch path runs for every request.
    batch_statements_ = MakeBatchStatements(schema_);
}

app::RegisterCurrencyStatus PgLedgerStore::RegisterCurrency(const commons::Currency& currency) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto inserted =
            tx.exec_params(WithSchema("INSERT INTO {S}.currencies (code, exponent) VALUES ($1, $2) "
                                      "ON CONFLICT (code) DO NOTHING RETURNING code",
                                      schema_),
                           currency.code, currency.exponent);
        if (!inserted.empty()) return app::RegisterCurrencyStatus::kCreated;
        auto existing = tx.exec_params1(
            WithSchema("SELECT exponent FROM {S}.currencies WHERE code = $1", schema_),
            currency.code);
        return existing[0].as<int>() == currency.exponent ? app::RegisterCurrencyStatus::kExisting
                                                          : app::RegisterCurrencyStatus::kConflict;
    });
}

std::vector<commons::Currency> PgLedgerStore::CustomCurrencies() {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        std::vector<commons::Currency> out;
        for (const auto& row : tx.exec(
                 WithSchema("SELECT code, exponent FROM {S}.currencies ORDER BY code", schema_))) {
            out.push_back({row[0].as<std::string>(), row[1].as<int>()});
        }
        return out;
    });
}

app::CreateAccountOutcome PgLedgerStore::CreateAccount(const app::NewAccount& account) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        app::CreateAccountOutcome outcome;
        auto inserted = tx.exec_params(
            WithSchema(
                std::string("INSERT INTO {S}.accounts (id, currency, normal_balance, name, "
                            "debits_must_not_exceed_credits, credits_must_not_exceed_debits, "
                            "metadata) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) "
                            "ON CONFLICT (id) DO NOTHING RETURNING ") +
                    kAccountColumns,
                schema_),
            account.id, account.currency,
            std::string(domain::NormalBalanceName(account.normal_balance)), account.name,
            account.flags.debits_must_not_exceed_credits,
            account.flags.credits_must_not_exceed_debits, account.metadata_json);
        if (!inserted.empty()) {
            outcome.status = app::CreateAccountStatus::kCreated;
            outcome.record = ReadAccountRecord(inserted[0]);
            outbox_.Add(tx, "ledger.account.created",
                        app::EventDataJson(app::AccountJson(outcome.record)));
            return outcome;
        }
        auto existing =
            tx.exec_params1(WithSchema(std::string("SELECT ") + kAccountColumns +
                                           ", metadata = $2::jsonb FROM {S}.accounts WHERE id = $1",
                                       schema_),
                            account.id, account.metadata_json);
        outcome.record = ReadAccountRecord(existing);
        const auto& stored = outcome.record.account;
        if (stored.currency != account.currency) outcome.differing_fields.emplace_back("currency");
        if (stored.normal_balance != account.normal_balance) {
            outcome.differing_fields.emplace_back("normal_balance");
        }
        if (outcome.record.name != account.name) outcome.differing_fields.emplace_back("name");
        if (!(stored.flags == account.flags)) outcome.differing_fields.emplace_back("flags");
        if (!existing[14].as<bool>()) outcome.differing_fields.emplace_back("metadata");
        outcome.status = outcome.differing_fields.empty()
                             ? app::CreateAccountStatus::kExisting
                             : app::CreateAccountStatus::kExistsWithDifferentFields;
        return outcome;
    });
}

std::optional<app::AccountRecord> PgLedgerStore::FindAccount(const std::string& id) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto rows = tx.exec_params(WithSchema(std::string("SELECT ") + kAccountColumns +
                                                  " FROM {S}.accounts WHERE id = $1",
                                              schema_),
                                   id);
        return rows.empty() ? std::nullopt : std::optional(ReadAccountRecord(rows[0]));
    });
}

app::Page<app::AccountRecord> PgLedgerStore::ListAccounts(const app::AccountFilter& filter,
                                                          const app::PageQuery& page) {
    const std::string table = schema_ + ".accounts";
    PageSql clauses = PageClauses(page, table, 3);
    std::string sql = std::string("SELECT ") + kAccountColumns + " FROM " + table +
                      " WHERE ($1 = '' OR currency = $1)"
                      " AND (NULLIF($2, '') IS NULL OR metadata @> NULLIF($2, '')::jsonb)" +
                      clauses.condition + clauses.order + " LIMIT $4";
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        std::vector<app::AccountRecord> items;
        for (const auto& row :
             tx.exec_params(sql, filter.currency.value_or(""), filter.metadata_json.value_or(""),
                            clauses.cursor, static_cast<std::int64_t>(page.limit + 1))) {
            items.push_back(ReadAccountRecord(row));
        }
        return FinishPage(std::move(items), page);
    });
}

std::optional<domain::Counters> PgLedgerStore::CountersAsOf(const std::string& account_id,
                                                            Micros as_of) {
    return commons::WithTransaction(
        pool_, [&](pqxx::dbtransaction& tx) -> std::optional<domain::Counters> {
            auto account = tx.exec_params(
                WithSchema("SELECT 1 FROM {S}.accounts WHERE id = $1", schema_), account_id);
            if (account.empty()) return std::nullopt;
            auto rows = tx.exec_params(
                WithSchema(std::string("SELECT pending_debits, pending_credits, posted_debits, "
                                       "posted_credits FROM {S}.entries WHERE account_id = $1 AND "
                                       "created_at <= ") +
                               kMicrosToTimestamp + "$2 ORDER BY id DESC LIMIT 1",
                           schema_),
                account_id, as_of);
            domain::Counters counters;
            if (!rows.empty()) {
                counters = {rows[0][0].as<std::int64_t>(), rows[0][1].as<std::int64_t>(),
                            rows[0][2].as<std::int64_t>(), rows[0][3].as<std::int64_t>()};
            }
            return counters;
        });
}

std::optional<app::Page<app::EntryRecord>> PgLedgerStore::ListEntries(const std::string& account_id,
                                                                      const app::PageQuery& page) {
    // Entries have numeric ids ("ent_<id>"); the cursor is that number.
    // The API refuses malformed cursors (domain::ParseEntryId); one here is a caller's bug.
    auto cursor_of = [](const std::optional<std::string>& id) -> std::int64_t {
        auto number = domain::ParseEntryId(id.value_or(""));
        if (!number) throw std::invalid_argument("ListEntries: malformed entry cursor");
        return *number;
    };
    std::string condition = " AND $2::bigint = $2::bigint";
    std::string order = " ORDER BY id DESC";
    std::int64_t cursor = 0;
    if (page.ending_before) {
        condition = " AND id > $2";
        order = " ORDER BY id ASC";
        cursor = cursor_of(page.ending_before);
    } else if (page.starting_after) {
        condition = " AND id < $2";
        cursor = cursor_of(page.starting_after);
    }
    std::string sql = WithSchema(
        "SELECT id, transaction_id, account_id, currency, direction, kind, pending_delta, "
        "posted_delta, pending_debits, pending_credits, posted_debits, posted_credits, "
        "(extract(epoch FROM effective_at) * 1000000)::bigint, "
        "(extract(epoch FROM created_at) * 1000000)::bigint FROM {S}.entries WHERE account_id = "
        "$1" +
            condition + order + " LIMIT $3",
        schema_);
    return commons::WithTransaction(
        pool_, [&](pqxx::dbtransaction& tx) -> std::optional<app::Page<app::EntryRecord>> {
            auto account = tx.exec_params(
                WithSchema("SELECT 1 FROM {S}.accounts WHERE id = $1", schema_), account_id);
            if (account.empty()) return std::nullopt;
            std::vector<app::EntryRecord> items;
            for (const auto& row : tx.exec_params(sql, account_id, cursor,
                                                  static_cast<std::int64_t>(page.limit + 1))) {
                app::EntryRecord record;
                record.id = row[0].as<std::int64_t>();
                auto& e = record.entry;
                e.transaction_id = row[1].as<std::string>();
                e.account_id = row[2].as<std::string>();
                e.currency = row[3].as<std::string>();
                e.direction = *domain::ParseDirection(row[4].as<std::string>());
                const auto kind = row[5].as<std::string>();
                auto parsed_kind = domain::ParseJournalKind(kind);
                // The table's CHECK allows only the four kinds: another is a corrupt journal,
                // never to be shown as some kind it is not.
                if (!parsed_kind) {
                    throw std::runtime_error("entry " + row[0].as<std::string>() +
                                             " has an unknown journal kind");
                }
                e.kind = *parsed_kind;
                e.pending_delta = row[6].as<std::int64_t>();
                e.posted_delta = row[7].as<std::int64_t>();
                e.after = {row[8].as<std::int64_t>(), row[9].as<std::int64_t>(),
                           row[10].as<std::int64_t>(), row[11].as<std::int64_t>()};
                e.effective_at = row[12].as<std::int64_t>();
                record.created_at = row[13].as<std::int64_t>();
                items.push_back(std::move(record));
            }
            return FinishPage(std::move(items), page);
        });
}

app::CloseOutcome PgLedgerStore::SetClosed(const std::string& account_id, bool closed) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        app::CloseOutcome outcome;
        auto rows = tx.exec_params(WithSchema(std::string("SELECT ") + kAccountColumns +
                                                  " FROM {S}.accounts WHERE id = $1 FOR UPDATE",
                                              schema_),
                                   account_id);
        if (rows.empty()) {
            outcome.status = app::CloseStatus::kNotFound;
            return outcome;
        }
        app::AccountRecord record = ReadAccountRecord(rows[0]);
        if (closed) {
            switch (domain::Close(record.account)) {
                case domain::CloseResult::kOk:
                    break;
                case domain::CloseResult::kHasPending:
                    outcome.status = app::CloseStatus::kHasPending;
                    break;
                case domain::CloseResult::kAlreadyClosed:
                    outcome.status = app::CloseStatus::kAlreadyClosed;
                    break;
            }
        } else {
            switch (domain::Reopen(record.account)) {
                case domain::ReopenResult::kOk:
                    break;
                case domain::ReopenResult::kNotClosed:
                    outcome.status = app::CloseStatus::kNotClosed;
                    break;
            }
        }
        if (outcome.status == app::CloseStatus::kOk) {
            tx.exec_params0(WithSchema("UPDATE {S}.accounts SET closed = $2, lock_version = $3, "
                                       "updated_at = now() WHERE id = $1",
                                       schema_),
                            account_id, record.account.closed, record.account.lock_version);
        }
        outcome.record = std::move(record);
        return outcome;
    });
}

app::BatchResult PgLedgerStore::ExecuteBatch(const std::vector<domain::Command>& commands,
                                             domain::Atomicity atomicity, Micros now) {
    const BatchStatements& sql = *batch_statements_;
    const std::string& load_transactions = sql.load_transactions;
    const std::string& lock_accounts = sql.lock_accounts;
    const std::string& update_accounts = sql.update_accounts;
    const std::string& insert_transactions = sql.insert_transactions;
    const std::string& update_transactions = sql.update_transactions;
    const std::string& insert_entries = sql.insert_entries;

    std::vector<std::string> transaction_ids;
    std::set<std::string> command_accounts;
    for (const auto& command : commands) {
        for (auto& id : domain::TransactionIdsOf(command)) transaction_ids.push_back(std::move(id));
        if (const auto* create = std::get_if<domain::CreateTransaction>(&command)) {
            for (const auto& entry : create->entries) command_accounts.insert(entry.account_id);
        }
    }
    const std::string transaction_ids_array = commons::PgArray(transaction_ids);

    for (int attempt = 1;; ++attempt) {
        try {
            return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
                Prepare(tx, "ledger_load_transactions", load_transactions);
                Prepare(tx, "ledger_lock_accounts", lock_accounts);
                domain::BatchState state;
                std::set<std::string> accounts = command_accounts;
                // Existing transactions name the accounts that post/void/expire/reverse touch.
                for (const auto& row :
                     tx.exec_prepared("ledger_load_transactions", transaction_ids_array)) {
                    for (const auto& entry : ReadTransaction(row).entries)
                        accounts.insert(entry.account_id);
                }
                std::set<std::string> locked;
                auto lock = [&](const std::set<std::string>& ids) {
                    std::vector<std::string> list(ids.begin(), ids.end());
                    for (const auto& row :
                         tx.exec_prepared("ledger_lock_accounts", commons::PgArray(list))) {
                        auto account = ReadAccount(row);
                        locked.insert(account.id);
                        state.accounts.insert_or_assign(account.id, std::move(account));
                    }
                    for (const auto& id : ids) locked.insert(id);  // missing ones stay missing
                };
                lock(accounts);
                // With the accounts locked, transactions on them cannot change under us; read
                // them again, as one may have been created or posted while we waited.
                std::set<std::string> more;
                for (const auto& row :
                     tx.exec_prepared("ledger_load_transactions", transaction_ids_array)) {
                    auto transaction = ReadTransaction(row);
                    for (const auto& entry : transaction.entries) {
                        if (!locked.count(entry.account_id)) more.insert(entry.account_id);
                    }
                    state.transactions.insert_or_assign(transaction.id, std::move(transaction));
                }
                // A transaction created meanwhile on other accounts: lock those too (out of id
                // order; a deadlock this rare is detected by PostgreSQL and retried).
                if (!more.empty()) lock(more);

                app::BatchResult result;
                result.outcome = domain::Apply(state, commands, now, atomicity);
                const auto& outcome = result.outcome;

                if (!outcome.changed_accounts.empty()) {
                    PgArrayBuilder ids, pd, pc, psd, psc, lv;
                    for (const auto& id : outcome.changed_accounts) {
                        const auto& a = state.accounts.at(id);
                        PAY_ASSERT(domain::CountersValid(a.counters));
                        ids.Add(id);
                        pd.Add(a.counters.pending_debits);
                        pc.Add(a.counters.pending_credits);
                        psd.Add(a.counters.posted_debits);
                        psc.Add(a.counters.posted_credits);
                        lv.Add(a.lock_version);
                    }
                    Prepare(tx, "ledger_update_accounts", update_accounts);
                    tx.exec_prepared0("ledger_update_accounts", ids.Finish(), pd.Finish(),
                                      pc.Finish(), psd.Finish(), psc.Finish(), lv.Finish());
                }
                if (!outcome.created_transactions.empty()) {
                    PgArrayBuilder ids, status, pending, account_ids, directions, amounts,
                        currencies, posted, timeout, expires, effective, description, metadata,
                        reverses, created;
                    for (const auto& id : outcome.created_transactions) {
                        const auto& t = state.transactions.at(id);
                        ids.Add(id);
                        status.Add(domain::StatusName(t.status));
                        pending.AddBool(t.created_pending);
                        PgArrayBuilder inner_accounts, inner_directions;
                        std::vector<std::int64_t> inner_amounts;
                        for (const auto& entry : t.entries) {
                            inner_accounts.Add(entry.account_id);
                            inner_directions.Add(domain::DirectionName(entry.direction));
                            inner_amounts.push_back(entry.amount);
                        }
                        account_ids.Add(inner_accounts.Finish());
                        directions.Add(inner_directions.Finish());
                        amounts.Add(commons::PgArray(inner_amounts));
                        currencies.Add(commons::PgArray(t.currencies));
                        if (t.posted_amounts.empty()) {
                            posted.AddNull();
                        } else {
                            posted.Add(commons::PgArray(t.posted_amounts));
                        }
                        timeout.AddOptional(t.timeout_seconds);
                        expires.AddOptional(t.expires_at);
                        effective.Add(t.effective_at);
                        description.Add(t.description);
                        metadata.Add(t.metadata_json);
                        reverses.Add(t.reverses_id);
                        created.Add(t.created_at);
                    }
                    Prepare(tx, "ledger_insert_transactions", insert_transactions);
                    tx.exec_prepared0("ledger_insert_transactions", ids.Finish(), status.Finish(),
                                      pending.Finish(), account_ids.Finish(), directions.Finish(),
                                      amounts.Finish(), currencies.Finish(), posted.Finish(),
                                      timeout.Finish(), expires.Finish(), effective.Finish(),
                                      description.Finish(), metadata.Finish(), reverses.Finish(),
                                      created.Finish());
                }
                if (!outcome.updated_transactions.empty()) {
                    PgArrayBuilder ids, status, posted, reversed_by;
                    for (const auto& id : outcome.updated_transactions) {
                        const auto& t = state.transactions.at(id);
                        ids.Add(id);
                        status.Add(domain::StatusName(t.status));
                        if (t.posted_amounts.empty()) {
                            posted.AddNull();
                        } else {
                            posted.Add(commons::PgArray(t.posted_amounts));
                        }
                        reversed_by.Add(t.reversed_by_id);
                    }
                    Prepare(tx, "ledger_update_transactions", update_transactions);
                    tx.exec_prepared0("ledger_update_transactions", ids.Finish(), status.Finish(),
                                      posted.Finish(), reversed_by.Finish());
                }
                if (!outcome.journal.empty()) {
                    PgArrayBuilder t, a, c, d, k, pd, psd, a1, a2, a3, a4, e;
                    for (const auto& row : outcome.journal) {
                        t.Add(row.transaction_id);
                        a.Add(row.account_id);
                        c.Add(row.currency);
                        d.Add(domain::DirectionName(row.direction));
                        k.Add(domain::JournalKindName(row.kind));
                        pd.Add(row.pending_delta);
                        psd.Add(row.posted_delta);
                        a1.Add(row.after.pending_debits);
                        a2.Add(row.after.pending_credits);
                        a3.Add(row.after.posted_debits);
                        a4.Add(row.after.posted_credits);
                        e.Add(row.effective_at);
                    }
                    Prepare(tx, "ledger_insert_entries", insert_entries);
                    tx.exec_prepared0("ledger_insert_entries", t.Finish(), a.Finish(), c.Finish(),
                                      d.Finish(), k.Finish(), pd.Finish(), psd.Finish(),
                                      a1.Finish(), a2.Finish(), a3.Finish(), a4.Finish(),
                                      e.Finish());
                }
                if (!outcome.events.empty()) {
                    std::vector<commons::Outbox::NewEvent> events;
                    events.reserve(outcome.events.size());
                    for (const auto& event : outcome.events) {
                        events.push_back({std::string(domain::EventTypeName(event.kind)),
                                          app::EventDataJson(app::TransactionJson(
                                              state.transactions.at(event.transaction_id)))});
                    }
                    outbox_.AddMany(tx, events);
                }
                for (const auto& command_result : outcome.results) {
                    auto found = state.transactions.find(command_result.transaction_id);
                    if (found != state.transactions.end()) result.transactions.insert(*found);
                }
                return result;
            });
        } catch (const pqxx::unique_violation&) {
            if (attempt >= kUniqueViolationAttemptsMax) throw;
        }
    }
}

std::optional<domain::Transaction> PgLedgerStore::FindTransaction(const std::string& id) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto rows = tx.exec_params(WithSchema(std::string("SELECT ") + kTransactionColumns +
                                                  " FROM {S}.transactions WHERE id = $1",
                                              schema_),
                                   id);
        return rows.empty() ? std::nullopt : std::optional(ReadTransaction(rows[0]));
    });
}

app::Page<domain::Transaction> PgLedgerStore::ListTransactions(const app::TransactionFilter& filter,
                                                               const app::PageQuery& page) {
    const std::string table = schema_ + ".transactions";
    PageSql clauses = PageClauses(page, table, 3);
    std::string sql = std::string("SELECT ") + kTransactionColumns + " FROM " + table +
                      " t WHERE ($1 = '' OR " + "EXISTS (SELECT 1 FROM " + schema_ +
                      ".entries e WHERE e.transaction_id = t.id AND e.account_id = $1)) AND ($2 = "
                      "'' OR status = $2)" +
                      clauses.condition + clauses.order + " LIMIT $4";
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        std::vector<domain::Transaction> items;
        for (const auto& row : tx.exec_params(
                 sql, filter.account_id.value_or(""),
                 filter.status ? std::string(domain::StatusName(*filter.status)) : std::string(),
                 clauses.cursor, static_cast<std::int64_t>(page.limit + 1))) {
            items.push_back(ReadTransaction(row));
        }
        return FinishPage(std::move(items), page);
    });
}

std::vector<std::string> PgLedgerStore::DueForExpiry(Micros now, std::size_t limit) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        std::vector<std::string> ids;
        for (const auto& row : tx.exec_params(
                 WithSchema(std::string("SELECT id FROM {S}.transactions WHERE status = 'pending' "
                                        "AND expires_at <= ") +
                                kMicrosToTimestamp + "$1 ORDER BY expires_at LIMIT $2",
                            schema_),
                 now, static_cast<std::int64_t>(limit))) {
            ids.push_back(row[0].as<std::string>());
        }
        return ids;
    });
}

app::VerifyReport PgLedgerStore::Verify() {
    // One repeatable-read snapshot: every check sees the same committed state.
    return commons::WithTransaction<
        commons::Isolation::kRepeatableRead>(pool_, [&](pqxx::dbtransaction& tx) {
        app::VerifyReport report;
        auto counts =
            tx.exec1(WithSchema("SELECT (SELECT count(*) FROM {S}.accounts), (SELECT count(*) FROM "
                                "{S}.transactions), (SELECT count(*) FROM {S}.entries)",
                                schema_));
        report.accounts_checked = counts[0].as<std::int64_t>();
        report.transactions_checked = counts[1].as<std::int64_t>();
        report.entries_checked = counts[2].as<std::int64_t>();
        const std::string limit = " LIMIT " + std::to_string(kViolationsPerKindMax);
        auto add = [&](const char* kind, const pqxx::result& rows) {
            for (const auto& row : rows) {
                report.violations.push_back({kind, row[0].as<std::string>(),
                                             row[1].is_null() ? "" : row[1].as<std::string>()});
            }
        };
        // Every account's counters equal the sums of its journal.
        add("account_counters",
            tx.exec(WithSchema(
                "SELECT a.id, format('counters (%s,%s,%s,%s) but journal sums (%s,%s,%s,%s)', "
                "a.pending_debits, a.pending_credits, a.posted_debits, a.posted_credits, "
                "coalesce(s.pd, 0), coalesce(s.pc, 0), coalesce(s.psd, 0), coalesce(s.psc, 0)) "
                "FROM {S}.accounts a LEFT JOIN (SELECT account_id, "
                "sum(pending_delta) FILTER (WHERE direction = 'debit') pd, "
                "sum(pending_delta) FILTER (WHERE direction = 'credit') pc, "
                "sum(posted_delta) FILTER (WHERE direction = 'debit') psd, "
                "sum(posted_delta) FILTER (WHERE direction = 'credit') psc "
                "FROM {S}.entries GROUP BY account_id) s ON s.account_id = a.id "
                "WHERE a.pending_debits <> coalesce(s.pd, 0) OR a.pending_credits <> "
                "coalesce(s.pc, 0) "
                "OR a.posted_debits <> coalesce(s.psd, 0) OR a.posted_credits <> coalesce(s.psc, "
                "0)" +
                    limit,
                schema_)));
        // The latest journal row of each account shows its current counters.
        add("account_last_entry",
            tx.exec(WithSchema(
                "SELECT a.id, 'last entry ' || l.id || ' disagrees with the counters' "
                "FROM {S}.accounts a JOIN LATERAL (SELECT * FROM {S}.entries e WHERE "
                "e.account_id = a.id ORDER BY e.id DESC LIMIT 1) l ON true "
                "WHERE (l.pending_debits, l.pending_credits, l.posted_debits, l.posted_credits) <> "
                "(a.pending_debits, a.pending_credits, a.posted_debits, a.posted_credits)" +
                    limit,
                schema_)));
        // Counters valid and constraints held (the table constraints say so too).
        add("account_constraint",
            tx.exec(WithSchema(
                "SELECT id, 'counters negative, overflowing or beyond the account flags' "
                "FROM {S}.accounts WHERE pending_debits < 0 OR pending_credits < 0 OR "
                "posted_debits < 0 OR posted_credits < 0 "
                "OR pending_debits::numeric + posted_debits > 9223372036854775807 "
                "OR pending_credits::numeric + posted_credits > 9223372036854775807 "
                "OR (debits_must_not_exceed_credits AND pending_debits::numeric + posted_debits > "
                "posted_credits) "
                "OR (credits_must_not_exceed_debits AND pending_credits::numeric + posted_credits "
                "> posted_debits)" +
                    limit,
                schema_)));
        add("entry_currency",
            tx.exec(WithSchema(
                "SELECT e.account_id, 'entry ' || e.id || ' in ' || e.currency || ' on a ' || "
                "a.currency || ' account' FROM {S}.entries e JOIN {S}.accounts a ON a.id = "
                "e.account_id WHERE e.currency <> a.currency" +
                    limit,
                schema_)));
        // Every transaction balances per currency, on pending and posted amounts.
        add("transaction_unbalanced",
            tx.exec(WithSchema(
                "SELECT transaction_id, currency || ' (' || kind || ') does not balance' "
                "FROM {S}.entries GROUP BY transaction_id, kind, currency HAVING "
                "sum(CASE direction WHEN 'debit' THEN pending_delta::numeric ELSE "
                "-pending_delta::numeric END) <> 0 "
                "OR sum(CASE direction WHEN 'debit' THEN posted_delta::numeric ELSE "
                "-posted_delta::numeric END) <> 0" +
                    limit,
                schema_)));
        // Per currency, posted debits equal posted credits over all accounts.
        add("currency_unbalanced",
            tx.exec(WithSchema(
                "SELECT currency, format('posted debits %s, posted credits %s, pending debits %s, "
                "pending credits %s', sum(posted_debits::numeric), sum(posted_credits::numeric), "
                "sum(pending_debits::numeric), sum(pending_credits::numeric)) FROM {S}.accounts "
                "GROUP BY currency HAVING sum(posted_debits::numeric) <> "
                "sum(posted_credits::numeric) "
                "OR sum(pending_debits::numeric) <> sum(pending_credits::numeric)" +
                    limit,
                schema_)));
        // A transaction's status agrees with its journal: pending ones still hold their
        // amounts, posted ones posted exactly posted_amounts.
        add("transaction_status",
            tx.exec(WithSchema(
                "SELECT t.id, 'status ' || t.status || ' disagrees with its journal' "
                "FROM {S}.transactions t JOIN (SELECT transaction_id, sum(pending_delta) p, "
                "sum(posted_delta) q FROM {S}.entries GROUP BY transaction_id) s "
                "ON s.transaction_id = t.id WHERE "
                "(t.status = 'pending' AND s.p <> (SELECT sum(x) FROM unnest(t.amounts) x)) OR "
                "(t.status <> 'pending' AND s.p <> 0) OR "
                "(t.status = 'posted' AND s.q <> (SELECT sum(x) FROM unnest(t.posted_amounts) x)) "
                "OR "
                "(t.status IN ('voided', 'expired') AND s.q <> 0)" +
                    limit,
                schema_)));
        report.ok = report.violations.empty();
        return report;
    });
}

}  // namespace ledger::store
