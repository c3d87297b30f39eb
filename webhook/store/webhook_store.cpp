#include "webhook/store/webhook_store.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "commons/db_transaction.hpp"
#include "commons/events.hpp"
#include "commons/ids.hpp"
#include "commons/pg_array.hpp"

namespace webhook::store {

namespace {

std::string WithSchema(std::string sql, const std::string& schema) {
    for (std::size_t at = sql.find("{S}"); at != std::string::npos; at = sql.find("{S}", at)) {
        sql.replace(at, 3, schema);
    }
    return sql;
}

// Runs a statement of the delivery path as a prepared statement: libpqxx prepares it on the
// connection at its first use, and PostgreSQL then reuses the plan instead of parsing and
// planning the statement every time (about 1.5 ms a statement on the bench machine, as much
// as executing a whole batch). The name is derived from the text, which carries the schema.
template <typename... Args>
pqxx::result Run(pqxx::dbtransaction& tx, const std::string& schema, const std::string& sql,
                 Args&&... args) {
    const std::string text = WithSchema(sql, schema);
    const std::string name = "webhook_" + std::to_string(std::hash<std::string>{}(text));
    tx.conn().prepare(name, text);  // the same name and text again is a no-op
    return tx.exec_prepared(name, std::forward<Args>(args)...);
}

constexpr const char* kEndpointColumns =
    "id, url, description, event_types, enabled, coalesce(disabled_reason, ''), "
    "rate_limit_per_second, max_in_flight, ordered, consecutive_failures, failing_since_us, "
    "circuit_open_until_us, created_us, updated_us";

template <typename T>
std::optional<T> Optional(const pqxx::field& field) {
    if (field.is_null()) return std::nullopt;
    return field.as<T>();
}

std::vector<std::string> TextArray(const pqxx::field& field) {
    std::vector<std::string> out;
    for (auto& value : commons::ParsePgArray(field.c_str())) out.push_back(value.value_or(""));
    return out;
}

// The endpoints' `columns`, in id order (the order every locker of endpoint rows keeps), with
// their rows locked for update when `lock`.
pqxx::result EndpointRows(pqxx::dbtransaction& tx, const std::string& schema,
                          const std::string& columns, const std::vector<std::string>& ids,
                          bool lock) {
    return Run(tx, schema,
               "SELECT " + columns + " FROM {S}.endpoints WHERE id = ANY($1::text[]) ORDER BY id" +
                   (lock ? " FOR NO KEY UPDATE" : ""),
               commons::PgArray(ids));
}

// An endpoint's health from three columns starting at `first`: consecutive_failures,
// failing_since_us, circuit_open_until_us.
domain::EndpointHealth ReadHealth(const pqxx::row& row, int first) {
    domain::EndpointHealth health;
    health.consecutive_failures = row[first].as<std::int32_t>();
    health.failing_since = Optional<Micros>(row[first + 1]);
    health.circuit_open_until = Optional<Micros>(row[first + 2]);
    return health;
}

EndpointRecord ReadEndpoint(const pqxx::row& row) {
    EndpointRecord e;
    e.id = row[0].as<std::string>();
    e.url = row[1].as<std::string>();
    e.description = row[2].as<std::string>();
    e.event_types = TextArray(row[3]);
    e.enabled = row[4].as<bool>();
    e.disabled_reason = row[5].as<std::string>();
    e.rate_limit_per_second = Optional<std::int32_t>(row[6]);
    e.max_in_flight = Optional<std::int32_t>(row[7]);
    e.ordered = row[8].as<bool>();
    e.health = ReadHealth(row, 9);
    e.created_us = row[12].as<Micros>();
    e.updated_us = row[13].as<Micros>();
    return e;
}

constexpr const char* kDeliveryColumns =
    "d.id, d.event_id, ev.type, d.endpoint_id, d.status, d.attempts, d.next_attempt_us, "
    "d.last_status_code, coalesce(d.last_error, ''), d.created_us, d.completed_us";

DeliveryRecord ReadDelivery(const pqxx::row& row) {
    DeliveryRecord d;
    d.id = row[0].as<std::string>();
    d.event_id = row[1].as<std::string>();
    d.event_type = row[2].as<std::string>();
    d.endpoint_id = row[3].as<std::string>();
    d.status = row[4].as<std::string>();
    d.attempts = row[5].as<std::int32_t>();
    if (d.status == "pending") d.next_attempt_us = row[6].as<Micros>();
    d.last_status_code = Optional<std::int32_t>(row[7]);
    d.last_error = row[8].as<std::string>();
    d.created_us = row[9].as<Micros>();
    d.completed_us = Optional<Micros>(row[10]);
    return d;
}

// The delivery with its event's type; nullopt when there is none.
std::optional<DeliveryRecord> DeliveryById(pqxx::dbtransaction& tx, const std::string& schema,
                                           const std::string& id) {
    auto rows = tx.exec_params(
        WithSchema(std::string("SELECT ") + kDeliveryColumns +
                       " FROM {S}.deliveries d JOIN {S}.events ev ON ev.id = d.event_id "
                       "WHERE d.id = $1",
                   schema),
        id);
    if (rows.empty()) return std::nullopt;
    return ReadDelivery(rows[0]);
}

constexpr const char* kAttemptColumns =
    "id, delivery_id, endpoint_id, attempted_us, status_code, latency_us, coalesce(error, ''), "
    "response_body";

AttemptRecord ReadAttempt(const pqxx::row& row) {
    AttemptRecord a;
    a.id = row[0].as<std::int64_t>();
    a.delivery_id = row[1].as<std::string>();
    a.endpoint_id = row[2].as<std::string>();
    a.attempted_us = row[3].as<Micros>();
    a.status_code = Optional<std::int32_t>(row[4]);
    a.latency_us = row[5].as<Micros>();
    a.error = row[6].as<std::string>();
    a.response_body = row[7].as<std::string>();
    return a;
}

std::vector<EndpointSecret> ReadSecrets(pqxx::dbtransaction& tx, const std::string& schema,
                                        const std::string& id, Micros now) {
    std::vector<EndpointSecret> secrets;
    for (const auto& row : tx.exec_params(
             WithSchema("SELECT secret, created_us, expires_us FROM {S}.endpoint_secrets "
                        "WHERE endpoint_id = $1 AND (expires_us IS NULL OR expires_us > $2) "
                        "ORDER BY created_us DESC",
                        schema),
             id, now)) {
        secrets.push_back(
            {row[0].as<std::string>(), row[1].as<Micros>(), Optional<Micros>(row[2])});
    }
    return secrets;
}

std::optional<std::int64_t> Widen(const std::optional<std::int32_t>& value) {
    if (!value) return std::nullopt;
    return *value;
}

// Optional limits travel as 0 for "none" (both columns are NULL or positive).
std::int32_t OrZero(const std::optional<std::int32_t>& value) { return value.value_or(0); }

// Which deliveries each endpoint may start now, and the in-flight slots they hold.
struct Admission {
    std::map<std::string, std::vector<std::int32_t>> slots;  // by endpoint, one per delivery
    std::map<std::string, std::string> urls;
    std::vector<std::string> saturated;  // endpoints whose rate limit left deliveries waiting
};

// Admits up to `wanted[e]` deliveries of each endpoint, `limit` in all, and takes one of the
// endpoint's in-flight slots for each under `token` until `lease_until` (migration 004). An
// endpoint's limit is its max_in_flight, or less while its circuit breaker is open or probing;
// its free slots below that limit are taken with SKIP LOCKED, so concurrent admissions (other
// threads, other replicas) never wait for one another and together never exceed it. A
// disabled or deleted endpoint admits none.
//
// Only an endpoint with a rate limit has its row locked, for the read-modify-write of its token
// bucket; so is one whose slot rows must first be created. Rows are locked in id order, as
// every other locker does.
Admission Admit(pqxx::dbtransaction& tx, const std::string& schema,
                const std::map<std::string, std::size_t>& wanted, std::size_t limit, Micros now,
                const ClaimSettings& settings, std::int64_t token, Micros lease_until) {
    Admission admission;
    if (wanted.empty() || limit == 0) return admission;
    struct Limits {
        std::optional<std::int32_t> rate;
        std::int32_t in_flight_max = 0;  // now, with the circuit breaker applied
        std::int32_t slot_rows = 0;
        // As read: slots are taken only while the row still has these values.
        domain::EndpointHealth health;
        std::optional<std::int32_t> column_max;  // max_in_flight
        domain::TokenBucket bucket;
        bool bucket_taken = false;
        std::size_t asked = 0;  // slots asked for in the current round
        std::size_t cut = 0;    // left out for want of `limit`, to ask for again
    };
    std::map<std::string, Limits> limits;
    auto read = [&](const std::vector<std::string>& ids, bool lock) {
        for (const auto& row :
             EndpointRows(tx, schema,
                          "id, rate_limit_per_second, max_in_flight, consecutive_failures, "
                          "failing_since_us, circuit_open_until_us, rate_tokens, "
                          "rate_updated_us, url, enabled AND deleted_us IS NULL, slots",
                          ids, lock)) {
            const auto id = row[0].as<std::string>();
            if (!row[9].as<bool>()) {
                limits.erase(id);
                continue;
            }
            const domain::EndpointHealth health = ReadHealth(row, 3);
            Limits l;
            l.rate = Optional<std::int32_t>(row[1]);
            l.in_flight_max = domain::InFlightAllowed(
                health, now, settings.health,
                Optional<std::int32_t>(row[2]).value_or(settings.default_max_in_flight));
            l.slot_rows = row[10].as<std::int32_t>();
            l.health = health;
            l.column_max = Optional<std::int32_t>(row[2]);
            l.bucket.tokens = row[6].as<double>();
            l.bucket.updated = row[7].as<Micros>();
            admission.urls[id] = row[8].as<std::string>();
            if (l.in_flight_max > 0) {
                limits[id] = l;
            } else {
                limits.erase(id);
            }
        }
    };
    std::vector<std::string> endpoint_ids;
    endpoint_ids.reserve(wanted.size());
    for (const auto& [id, unused] : wanted) endpoint_ids.push_back(id);
    read(endpoint_ids, false);
    std::vector<std::string> to_lock;
    for (const auto& [id, l] : limits) {
        if (l.rate || l.slot_rows < l.in_flight_max) to_lock.push_back(id);
    }
    if (!to_lock.empty()) {
        read(to_lock, true);  // again, under the lock: the bucket and slot count to change
        commons::PgArrayBuilder grow_ids, grow_from, grow_to;
        std::size_t growing = 0;
        for (const auto& id : to_lock) {
            auto found = limits.find(id);
            if (found == limits.end() || found->second.slot_rows >= found->second.in_flight_max) {
                continue;
            }
            grow_ids.Add(id);
            grow_from.Add(static_cast<std::int64_t>(found->second.slot_rows));
            grow_to.Add(static_cast<std::int64_t>(found->second.in_flight_max));
            ++growing;
        }
        if (growing > 0) {
            const std::string ids = grow_ids.Finish(), to = grow_to.Finish();
            Run(tx, schema,
                "INSERT INTO {S}.endpoint_slots (endpoint_id, slot) SELECT u.id, "
                "generate_series(u.have, u.need - 1) FROM unnest($1::text[], $2::int[], "
                "$3::int[]) AS u(id, have, need) ON CONFLICT DO NOTHING",
                ids, grow_from.Finish(), to);
            Run(tx, schema,
                "UPDATE {S}.endpoints e SET slots = greatest(e.slots, u.need) FROM "
                "unnest($1::text[], $2::int[]) AS u(id, need) WHERE e.id = u.id",
                ids, to);
        }
    }
    // Two rounds at most. The first asks each endpoint for as many as it wants, up to its
    // limit, while `limit` lasts. An endpoint with fewer free slots than asked gives the rest of
    // `limit` (and its tokens) back, and the second round offers it to those the first cut short.
    std::size_t left = limit;
    for (int round = 0; round < 2 && left > 0; ++round) {
        commons::PgArrayBuilder ask_ids, ask_max, ask_count, ask_failures, ask_open, ask_column_max,
            ask_rate;
        std::size_t asking = 0;
        for (auto& [id, l] : limits) {
            const std::size_t want =
                round == 0 ? std::min<std::size_t>(wanted.at(id),
                                                   static_cast<std::size_t>(l.in_flight_max))
                           : l.cut;
            std::size_t take = std::min(want, left);
            l.cut = round == 0 ? want - take : 0;
            if (l.rate && take > 0) {
                const auto allowed = static_cast<std::size_t>(
                    domain::TakeTokens(l.bucket, *l.rate, now, static_cast<std::int32_t>(take)));
                l.bucket_taken = true;
                // Out of tokens: no point asking again before they refill.
                if (allowed < take) {
                    admission.saturated.push_back(id);
                    l.cut = 0;
                }
                take = allowed;
            }
            l.asked = take;
            if (take == 0) continue;
            left -= take;
            ask_ids.Add(id);
            ask_max.Add(static_cast<std::int64_t>(l.in_flight_max));
            ask_count.Add(static_cast<std::int64_t>(take));
            ask_failures.Add(static_cast<std::int64_t>(l.health.consecutive_failures));
            ask_open.AddOptional(l.health.circuit_open_until);
            ask_column_max.AddOptional(Widen(l.column_max));
            ask_rate.AddOptional(Widen(l.rate));
            ++asking;
        }
        if (asking == 0) break;
        // The limits were decided on the endpoint rows as first read, without a lock. A record
        // committed since may have opened the circuit and freed a slot, or a PATCH lowered the
        // limits: this statement sees both the slots and the endpoint in one snapshot, and
        // takes nothing for an endpoint whose health, limits or state changed since. (The
        // check filters before the lock, so no slot is locked only to be thrown away.)
        std::map<std::string, std::size_t> got;
        for (const auto& row :
             Run(tx, schema,
                 "UPDATE {S}.endpoint_slots s SET lease_until_us = $5, lease_token = $4 FROM "
                 "(SELECT f.endpoint_id, f.slot FROM unnest($1::text[], $2::int[], $3::int[], "
                 "$7::int[], $8::bigint[], $9::int[], $10::int[]) AS w(endpoint_id, lim, k, "
                 "failures, open_until, max_in_flight, rate) CROSS JOIN LATERAL (SELECT "
                 "x.endpoint_id, x.slot FROM {S}.endpoint_slots x WHERE x.endpoint_id = "
                 "w.endpoint_id AND x.slot < w.lim AND x.lease_until_us <= $6 AND EXISTS "
                 "(SELECT 1 FROM {S}.endpoints e WHERE e.id = w.endpoint_id AND "
                 "e.consecutive_failures = w.failures AND e.circuit_open_until_us IS NOT "
                 "DISTINCT FROM w.open_until AND e.max_in_flight IS NOT DISTINCT FROM "
                 "w.max_in_flight AND e.rate_limit_per_second IS NOT DISTINCT FROM w.rate AND "
                 "e.enabled AND e.deleted_us IS NULL) ORDER BY x.slot LIMIT w.k FOR NO KEY "
                 "UPDATE OF x SKIP LOCKED) AS f) AS g WHERE s.endpoint_id = g.endpoint_id AND "
                 "s.slot = g.slot RETURNING s.endpoint_id, s.slot",
                 ask_ids.Finish(), ask_max.Finish(), ask_count.Finish(), token, lease_until, now,
                 ask_failures.Finish(), ask_open.Finish(), ask_column_max.Finish(),
                 ask_rate.Finish())) {
            const auto id = row[0].as<std::string>();
            admission.slots[id].push_back(row[1].as<std::int32_t>());
            ++got[id];
        }
        bool cut_short = false;
        for (auto& [id, l] : limits) {
            const std::size_t missing = l.asked - std::min(l.asked, got[id]);
            if (missing > 0) {
                // At its in-flight bound: nothing more for it now.
                left += missing;
                l.cut = 0;
                if (l.rate) l.bucket.tokens += static_cast<double>(missing);
            }
            l.asked = 0;
            // Also an endpoint that `limit` left out entirely in this round.
            cut_short = cut_short || l.cut > 0;
        }
        if (!cut_short) break;
    }
    for (auto& [id, slots] : admission.slots) std::sort(slots.begin(), slots.end());
    commons::PgArrayBuilder bucket_ids, bucket_tokens, bucket_updated;
    std::size_t buckets = 0;
    for (const auto& [id, l] : limits) {
        if (!l.bucket_taken) continue;
        bucket_ids.Add(id);
        bucket_tokens.Add(std::to_string(l.bucket.tokens));
        bucket_updated.Add(l.bucket.updated);
        ++buckets;
    }
    if (buckets > 0) {
        Run(tx, schema,
            "UPDATE {S}.endpoints e SET rate_tokens = u.tokens, "
            "rate_updated_us = u.updated FROM unnest($1::text[], "
            "$2::float8[], $3::bigint[]) AS u(id, tokens, updated) "
            "WHERE e.id = u.id",
            bucket_ids.Finish(), bucket_tokens.Finish(), bucket_updated.Finish());
    }
    return admission;
}

// Frees the in-flight slots still held under the given tokens (an expired one may have been
// taken since by another lease, which keeps it). The arrays are parallel: endpoint ids, slots,
// tokens.
void FreeSlots(pqxx::dbtransaction& tx, const std::string& schema, const std::string& endpoints,
               const std::string& slots, const std::string& tokens) {
    Run(tx, schema,
        "UPDATE {S}.endpoint_slots s SET lease_until_us = 0, lease_token = NULL FROM "
        "unnest($1::text[], $2::int[], $3::bigint[]) AS u(endpoint_id, slot, token) WHERE "
        "s.endpoint_id = u.endpoint_id AND s.slot = u.slot AND s.lease_token = u.token",
        endpoints, slots, tokens);
}

// Every unexpired signing secret of the endpoints, newest first.
std::map<std::string, std::vector<std::string>> SigningSecrets(
    pqxx::dbtransaction& tx, const std::string& schema, const std::vector<std::string>& endpoints,
    Micros now) {
    std::map<std::string, std::vector<std::string>> secrets;
    for (const auto& row :
         Run(tx, schema,
             "SELECT endpoint_id, secret FROM {S}.endpoint_secrets WHERE endpoint_id = "
             "ANY($1::text[]) AND (expires_us IS NULL OR expires_us > $2) ORDER BY "
             "endpoint_id, created_us DESC",
             commons::PgArray(endpoints), now)) {
        secrets[row[0].as<std::string>()].push_back(row[1].as<std::string>());
    }
    return secrets;
}

std::int64_t NewLeaseToken() {
    thread_local std::mt19937_64 tokens{std::random_device{}()};
    return static_cast<std::int64_t>(tokens() & 0x7fffffffffffffffULL) | 1;
}

std::string_view DisableReasonName(domain::DisableReason reason) {
    switch (reason) {
        case domain::DisableReason::kGone:
            return "gone";
        case domain::DisableReason::kFailing:
            return "failing";
        case domain::DisableReason::kNone:
            break;
    }
    return "";
}

}  // namespace

PgWebhookStore::PgWebhookStore(commons::ConnectionPool& pool, std::string schema,
                               commons::Outbox& outbox, commons::IdGenerator& ids)
    : pool_(pool), schema_(std::move(schema)), outbox_(outbox), ids_(ids) {}

EndpointRecord PgWebhookStore::CreateEndpoint(const NewEndpoint& endpoint,
                                              const std::string& secret, Micros now) {
    const std::string id = ids_.Next("we");
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto row = tx.exec_params1(
            WithSchema(std::string("INSERT INTO {S}.endpoints (id, url, description, event_types, "
                                   "enabled, disabled_reason, rate_limit_per_second, "
                                   "max_in_flight, ordered, created_us, updated_us) VALUES ($1, "
                                   "$2, $3, $4::text[], $5, CASE WHEN $5 THEN NULL ELSE 'manual' "
                                   "END, NULLIF($6, 0), NULLIF($7, 0), $8, $9, $9) RETURNING ") +
                           kEndpointColumns,
                       schema_),
            id, endpoint.url, endpoint.description, commons::PgArray(endpoint.event_types),
            endpoint.enabled, OrZero(endpoint.rate_limit_per_second),
            OrZero(endpoint.max_in_flight), endpoint.ordered, now);
        tx.exec_params0(WithSchema("INSERT INTO {S}.endpoint_secrets (endpoint_id, secret, "
                                   "created_us) VALUES ($1, $2, $3)",
                                   schema_),
                        id, secret, now);
        return ReadEndpoint(row);
    });
}

std::optional<EndpointRecord> PgWebhookStore::FindEndpoint(const std::string& id) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto rows = tx.exec_params(WithSchema(std::string("SELECT ") + kEndpointColumns +
                                                  " FROM {S}.endpoints WHERE id = $1 AND "
                                                  "deleted_us IS NULL",
                                              schema_),
                                   id);
        return rows.empty() ? std::nullopt : std::optional<EndpointRecord>(ReadEndpoint(rows[0]));
    });
}

Page<EndpointRecord> PgWebhookStore::ListEndpoints(std::size_t limit,
                                                   const std::string& starting_after) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        Page<EndpointRecord> page;
        auto rows = tx.exec_params(
            WithSchema(std::string("SELECT ") + kEndpointColumns +
                           " FROM {S}.endpoints WHERE deleted_us IS NULL AND ($1 = '' OR id < $1) "
                           "ORDER BY id DESC LIMIT $2",
                       schema_),
            starting_after, static_cast<std::int64_t>(limit + 1));
        for (const auto& row : rows) page.items.push_back(ReadEndpoint(row));
        if (page.items.size() > limit) {
            page.items.pop_back();
            page.has_more = true;
        }
        return page;
    });
}

std::optional<EndpointRecord> PgWebhookStore::UpdateEndpoint(const std::string& id,
                                                             const EndpointPatch& patch,
                                                             Micros now) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto rows = tx.exec_params(WithSchema(std::string("SELECT ") + kEndpointColumns +
                                                  " FROM {S}.endpoints WHERE id = $1 AND "
                                                  "deleted_us IS NULL FOR NO KEY UPDATE",
                                              schema_),
                                   id);
        if (rows.empty()) return std::optional<EndpointRecord>();
        EndpointRecord e = ReadEndpoint(rows[0]);
        if (patch.url) e.url = *patch.url;
        if (patch.description) e.description = *patch.description;
        if (patch.event_types) e.event_types = *patch.event_types;
        if (patch.rate_limit_per_second) e.rate_limit_per_second = *patch.rate_limit_per_second;
        if (patch.max_in_flight) e.max_in_flight = *patch.max_in_flight;
        if (patch.ordered) e.ordered = *patch.ordered;
        bool reset_health = false;
        if (patch.enabled && *patch.enabled != e.enabled) {
            e.enabled = *patch.enabled;
            e.disabled_reason = e.enabled ? "" : "manual";
            // Enabling again starts with a clean slate: a closed circuit, no run of failures.
            reset_health = e.enabled;
        }
        auto row = tx.exec_params1(
            WithSchema(std::string("UPDATE {S}.endpoints SET url = $2, description = $3, "
                                   "event_types = $4::text[], enabled = $5, disabled_reason = "
                                   "NULLIF($6, ''), rate_limit_per_second = NULLIF($7, 0), "
                                   "max_in_flight = NULLIF($8, 0), ordered = $9, updated_us = $10, "
                                   "consecutive_failures = CASE WHEN $11 THEN 0 ELSE "
                                   "consecutive_failures END, failing_since_us = CASE WHEN $11 "
                                   "THEN NULL ELSE failing_since_us END, circuit_open_until_us = "
                                   "CASE WHEN $11 THEN NULL ELSE circuit_open_until_us END "
                                   "WHERE id = $1 RETURNING ") +
                           kEndpointColumns,
                       schema_),
            id, e.url, e.description, commons::PgArray(e.event_types), e.enabled, e.disabled_reason,
            OrZero(e.rate_limit_per_second), OrZero(e.max_in_flight), e.ordered, now, reset_health);
        return std::optional<EndpointRecord>(ReadEndpoint(row));
    });
}

bool PgWebhookStore::DeleteEndpoint(const std::string& id, Micros now) {
    // First the endpoint alone: from its commit on, no claim takes its deliveries. Its pending
    // deliveries are failed afterwards, in transactions that lock no endpoint row, because a
    // claim locks deliveries before their endpoint and one transaction doing both in the other
    // order would deadlock with it.
    const bool deleted = commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        return !tx.exec_params(WithSchema("UPDATE {S}.endpoints SET deleted_us = $2, enabled = "
                                          "false, updated_us = $2 WHERE id = $1 AND deleted_us IS "
                                          "NULL RETURNING id",
                                          schema_),
                               id, now)
                    .empty();
    });
    if (!deleted) return false;
    constexpr std::int64_t kBatch = 1000;  // bounds each transaction's locks and duration
    for (;;) {
        const auto failed = commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
            return tx
                .exec_params(
                    WithSchema("UPDATE {S}.deliveries SET status = 'failed', last_error = "
                               "'endpoint_deleted', completed_us = $2, lease_until_us = NULL, "
                               "lease_token = NULL WHERE id IN (SELECT id FROM {S}.deliveries "
                               "WHERE endpoint_id = $1 AND status = 'pending' LIMIT $3) "
                               "RETURNING id",
                               schema_),
                    id, now, kBatch)
                .size();
        });
        if (failed < static_cast<std::size_t>(kBatch)) return true;
    }
}

std::optional<std::vector<EndpointSecret>> PgWebhookStore::RotateSecret(const std::string& id,
                                                                        const std::string& secret,
                                                                        Micros now,
                                                                        Micros overlap_us) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto found = tx.exec_params(
            WithSchema("SELECT id FROM {S}.endpoints WHERE id = $1 AND deleted_us IS NULL FOR "
                       "NO KEY UPDATE",
                       schema_),
            id);
        if (found.empty()) return std::optional<std::vector<EndpointSecret>>();
        // Secrets still in their overlap window end now: at most two sign at once.
        tx.exec_params0(WithSchema("UPDATE {S}.endpoint_secrets SET expires_us = $2 WHERE "
                                   "endpoint_id = $1 AND expires_us > $2",
                                   schema_),
                        id, now);
        tx.exec_params0(WithSchema("UPDATE {S}.endpoint_secrets SET expires_us = $2 WHERE "
                                   "endpoint_id = $1 AND expires_us IS NULL",
                                   schema_),
                        id, now + overlap_us);
        // Two rotations within one microsecond would collide on the key; the later one wins.
        tx.exec_params0(WithSchema("INSERT INTO {S}.endpoint_secrets (endpoint_id, secret, "
                                   "created_us) VALUES ($1, $2, $3) ON CONFLICT (endpoint_id, "
                                   "created_us) DO UPDATE SET secret = excluded.secret, "
                                   "expires_us = NULL",
                                   schema_),
                        id, secret, now);
        return std::optional<std::vector<EndpointSecret>>(ReadSecrets(tx, schema_, id, now));
    });
}

std::optional<std::vector<EndpointSecret>> PgWebhookStore::Secrets(const std::string& id,
                                                                   Micros now) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto found = tx.exec_params(
            WithSchema("SELECT id FROM {S}.endpoints WHERE id = $1 AND deleted_us IS NULL",
                       schema_),
            id);
        if (found.empty()) return std::optional<std::vector<EndpointSecret>>();
        return std::optional<std::vector<EndpointSecret>>(ReadSecrets(tx, schema_, id, now));
    });
}

AddedEvents PgWebhookStore::AddEvents(const std::vector<IncomingEvent>& events, Micros now,
                                      const ClaimSettings* lease) {
    AddedEvents added;
    if (events.empty()) return added;
    commons::PgArrayBuilder ids, types, sources, created, payloads;
    for (const auto& event : events) {
        ids.Add(event.id);
        types.Add(event.type);
        sources.Add(event.source);
        created.Add(event.created);
        payloads.Add(event.payload);
    }
    const std::string ids_array = ids.Finish(), types_array = types.Finish(),
                      sources_array = sources.Finish(), created_array = created.Finish(),
                      payloads_array = payloads.Finish();
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        AddedEvents result;
        // WITH ORDINALITY keeps the stream's order, so deliveries get their seq in event order.
        auto inserted =
            Run(tx, schema_,
                "INSERT INTO {S}.events (id, type, source, created, payload, received_us) "
                "SELECT id, type, source, created, payload, $6 FROM unnest($1::text[], "
                "$2::text[], $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY AS "
                "u(id, type, source, created, payload, n) ORDER BY n "
                "ON CONFLICT (id) DO NOTHING RETURNING id, type",
                ids_array, types_array, sources_array, created_array, payloads_array, now);
        if (inserted.empty()) return result;
        std::set<std::string> new_ids;
        for (const auto& row : inserted) new_ids.insert(row[0].as<std::string>());
        struct Target {
            std::string id;
            std::vector<std::string> patterns;
            bool ordered = false;
        };
        std::vector<Target> targets;
        for (const auto& row : Run(tx, schema_,
                                   "SELECT id, event_types, ordered FROM {S}.endpoints WHERE "
                                   "enabled AND deleted_us IS NULL")) {
            targets.push_back({row[0].as<std::string>(), TextArray(row[1]), row[2].as<bool>()});
        }
        struct NewDelivery {
            std::string id;
            const IncomingEvent* event;
            const Target* target;
            bool leased = false;
            std::int32_t slot = 0;
        };
        std::vector<NewDelivery> deliveries;
        std::map<std::string, std::size_t> wanted;  // unordered endpoints' new deliveries
        for (const auto& event : events) {
            if (new_ids.erase(event.id) == 0) continue;  // stored before, or repeated in batch
            for (const auto& target : targets) {
                if (!domain::EventTypeMatchesAny(target.patterns, event.type)) continue;
                deliveries.push_back({ids_.Next("dlv"), &event, &target});
                // An ordered endpoint's delivery waits behind its older ones: the claim decides.
                if (!target.ordered) ++wanted[target.id];
            }
        }
        result.deliveries = deliveries.size();
        if (deliveries.empty()) return result;
        const std::int64_t token = NewLeaseToken();
        const Micros lease_until = lease != nullptr ? now + lease->lease_us : 0;
        Admission admission;
        if (lease != nullptr) {
            admission = Admit(tx, schema_, wanted, lease->limit, now, *lease, token, lease_until);
        }
        std::vector<std::string> leased_endpoints;
        for (const auto& [id, unused] : admission.slots) leased_endpoints.push_back(id);
        std::map<std::string, std::size_t> slots_used;
        commons::PgArrayBuilder delivery_ids, event_ids, endpoint_ids, leases, tokens;
        for (auto& d : deliveries) {
            auto slots = admission.slots.find(d.target->id);
            std::size_t& used = slots_used[d.target->id];
            d.leased = slots != admission.slots.end() && used < slots->second.size();
            delivery_ids.Add(d.id);
            event_ids.Add(d.event->id);
            endpoint_ids.Add(d.target->id);
            if (d.leased) {
                d.slot = slots->second[used++];
                leases.Add(lease_until);
                tokens.Add(token);
            } else {
                leases.AddNull();
                tokens.AddNull();
            }
        }
        // A leased delivery is inserted as claimed by this replica: its first attempt counted,
        // the lease and token set, exactly as a claim would leave it.
        Run(tx, schema_,
            "INSERT INTO {S}.deliveries (id, event_id, endpoint_id, status, "
            "next_attempt_us, created_us, attempts, lease_until_us, lease_token) "
            "SELECT id, event_id, endpoint_id, 'pending', $4, $4, CASE WHEN lease IS "
            "NULL THEN 0 ELSE 1 END, lease, token FROM unnest($1::text[], $2::text[], "
            "$3::text[], $5::bigint[], $6::bigint[]) WITH ORDINALITY AS u(id, "
            "event_id, endpoint_id, lease, token, n) ORDER BY n",
            delivery_ids.Finish(), event_ids.Finish(), endpoint_ids.Finish(), now, leases.Finish(),
            tokens.Finish());
        std::size_t leased_count = 0;
        for (const auto& d : deliveries) leased_count += d.leased ? 1 : 0;
        result.left_unleased = leased_count < deliveries.size();
        if (leased_count == 0) return result;
        auto secrets = SigningSecrets(tx, schema_, leased_endpoints, now);
        result.leased.reserve(leased_count);
        for (const auto& d : deliveries) {
            if (!d.leased) continue;
            ClaimedDelivery c;
            c.delivery_id = d.id;
            c.event_id = d.event->id;
            c.endpoint_id = d.target->id;
            c.url = admission.urls[c.endpoint_id];
            c.payload = d.event->payload;
            c.secrets = secrets[c.endpoint_id];
            c.lease_token = token;
            c.lease_until_us = lease_until;
            c.slot = d.slot;
            result.leased.push_back(std::move(c));
        }
        return result;
    });
}

ClaimResult PgWebhookStore::Claim(Micros now, const std::vector<std::string>& excluded_endpoints,
                                  const ClaimSettings& settings) {
    const std::string excluded = commons::PgArray(excluded_endpoints);
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        ClaimResult result;
        // Endpoints that take deliveries now (a small table): the unordered ones share one scan
        // of the due index; an ordered one offers only its oldest pending delivery. Rows another
        // replica is claiming are skipped, never waited for.
        std::vector<std::string> unordered, ordered;
        for (const auto& row :
             Run(tx, schema_,
                 "SELECT id, ordered FROM {S}.endpoints WHERE enabled AND deleted_us IS "
                 "NULL AND (circuit_open_until_us IS NULL OR circuit_open_until_us <= "
                 "$1) AND NOT (id = ANY($2::text[]))",
                 now, excluded)) {
            (row[1].as<bool>() ? ordered : unordered).push_back(row[0].as<std::string>());
        }
        std::map<std::string, std::vector<std::string>> by_endpoint;  // in due order
        if (!unordered.empty()) {
            // Walks the due index in time order and stops at the limit, whatever the
            // statistics say (migration 006).
            for (const auto& row :
                 Run(tx, schema_,
                     "SELECT delivery_id, delivery_endpoint_id FROM {S}.claim_due($1, "
                     "$2::int, $3::text[])",
                     now, static_cast<std::int64_t>(settings.limit), commons::PgArray(unordered))) {
                by_endpoint[row[1].as<std::string>()].push_back(row[0].as<std::string>());
            }
        }
        if (!ordered.empty()) {
            for (const auto& row : tx.exec_params(
                     WithSchema("SELECT d.id, d.endpoint_id FROM {S}.deliveries d WHERE d.id IN "
                                "(SELECT h.id FROM unnest($2::text[]) AS o(id) CROSS JOIN LATERAL "
                                "(SELECT p.id, p.next_attempt_us, p.lease_until_us FROM "
                                "{S}.deliveries p WHERE p.endpoint_id = o.id AND p.status = "
                                "'pending' ORDER BY p.seq LIMIT 1) AS h WHERE h.next_attempt_us <= "
                                "$1 AND (h.lease_until_us IS NULL OR h.lease_until_us <= $1)) "
                                "AND d.status = 'pending' FOR NO KEY UPDATE SKIP LOCKED",
                                schema_),
                     now, commons::PgArray(ordered))) {
                by_endpoint[row[1].as<std::string>()].push_back(row[0].as<std::string>());
            }
        }
        if (by_endpoint.empty()) return result;
        std::map<std::string, std::size_t> wanted;
        for (const auto& [id, deliveries] : by_endpoint) wanted[id] = deliveries.size();
        const std::int64_t token = NewLeaseToken();
        const Micros lease_until = now + settings.lease_us;
        Admission admission =
            Admit(tx, schema_, wanted, settings.limit, now, settings, token, lease_until);
        result.saturated_endpoints = std::move(admission.saturated);
        std::vector<std::string> chosen, chosen_endpoints;
        std::map<std::string, std::int32_t> slot_of;  // by delivery
        for (const auto& [endpoint_id, slots] : admission.slots) {
            const auto& deliveries = by_endpoint[endpoint_id];
            for (std::size_t i = 0; i < slots.size() && i < deliveries.size(); ++i) {
                chosen.push_back(deliveries[i]);
                slot_of[deliveries[i]] = slots[i];
            }
            chosen_endpoints.push_back(endpoint_id);
        }
        if (chosen.empty()) return result;
        auto leased = Run(tx, schema_,
                          "UPDATE {S}.deliveries d SET lease_until_us = $2, lease_token = $3, "
                          "attempts = d.attempts + 1 FROM unnest($1::text[]) AS c(id) WHERE d.id "
                          "= c.id RETURNING d.id, d.event_id, d.endpoint_id, d.step",
                          commons::PgArray(chosen), lease_until, token);
        // The payloads by primary key; a join on the statement above was planned as a scan of
        // every event.
        std::set<std::string> event_ids;
        for (const auto& row : leased) event_ids.insert(row[1].as<std::string>());
        std::map<std::string, std::string> payloads;
        for (const auto& row :
             Run(tx, schema_, "SELECT id, payload FROM {S}.events WHERE id = ANY($1::text[])",
                 commons::PgArray(std::vector<std::string>(event_ids.begin(), event_ids.end())))) {
            payloads[row[0].as<std::string>()] = row[1].as<std::string>();
        }
        auto secrets = SigningSecrets(tx, schema_, chosen_endpoints, now);
        for (const auto& row : leased) {
            ClaimedDelivery d;
            d.delivery_id = row[0].as<std::string>();
            d.event_id = row[1].as<std::string>();
            d.endpoint_id = row[2].as<std::string>();
            d.step = row[3].as<std::int32_t>();
            d.payload = payloads[d.event_id];
            d.url = admission.urls[d.endpoint_id];
            d.secrets = secrets[d.endpoint_id];
            d.lease_token = token;
            d.lease_until_us = lease_until;
            d.slot = slot_of[d.delivery_id];
            result.deliveries.push_back(std::move(d));
        }
        return result;
    });
}

std::size_t PgWebhookStore::RecordResults(const std::vector<AttemptResult>& results,
                                          const RecordSettings& settings,
                                          const std::function<double()>& unit_random) {
    if (results.empty()) return 0;
    std::vector<std::string> endpoint_ids;
    endpoint_ids.reserve(results.size());
    for (const auto& r : results) endpoint_ids.push_back(r.endpoint_id);
    std::sort(endpoint_ids.begin(), endpoint_ids.end());
    endpoint_ids.erase(std::unique(endpoint_ids.begin(), endpoint_ids.end()), endpoint_ids.end());
    // Outcomes of one endpoint apply in the order the attempts ended.
    std::vector<const AttemptResult*> ordered;
    ordered.reserve(results.size());
    for (const auto& r : results) ordered.push_back(&r);
    std::stable_sort(ordered.begin(), ordered.end(),
                     [](const auto* a, const auto* b) { return a->finished_us < b->finished_us; });
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        struct EndpointState {
            domain::EndpointHealth health;
            bool enabled = false;
            std::string url;
            domain::DisableReason disable = domain::DisableReason::kNone;
        };
        std::map<std::string, EndpointState> endpoints;
        auto read = [&](const std::vector<std::string>& ids, bool lock) {
            for (const auto& row : EndpointRows(tx, schema_,
                                                "id, consecutive_failures, failing_since_us, "
                                                "circuit_open_until_us, enabled, url",
                                                ids, lock)) {
                EndpointState s;
                s.health = ReadHealth(row, 1);
                s.enabled = row[4].as<bool>();
                s.url = row[5].as<std::string>();
                endpoints[row[0].as<std::string>()] = std::move(s);
            }
        };
        // A healthy endpoint that only succeeded stays as it is: its row is neither locked nor
        // written, so a busy endpoint's successes do not queue on its row. The others are read
        // again under the row lock for the read-modify-write of their health.
        read(endpoint_ids, false);
        std::set<std::string> failing;
        for (const auto& r : results) {
            if (!r.status_code ||
                domain::ClassifyStatus(*r.status_code) != domain::AttemptOutcome::kSucceeded) {
                failing.insert(r.endpoint_id);
            }
        }
        std::vector<std::string> changing;
        for (const auto& [id, state] : endpoints) {
            const bool clean = state.health.consecutive_failures == 0 &&
                               !state.health.failing_since && !state.health.circuit_open_until;
            if (!clean || failing.count(id) > 0) changing.push_back(id);
        }
        if (!changing.empty()) read(changing, true);
        commons::PgArrayBuilder d_ids, d_tokens, d_status, d_step, d_next, d_code, d_error,
            d_completed;
        commons::PgArrayBuilder a_delivery, a_endpoint, a_at, a_code, a_latency, a_error, a_body;
        commons::PgArrayBuilder s_endpoint, s_slot, s_token;
        for (const AttemptResult* r : ordered) {
            s_endpoint.Add(r->endpoint_id);
            s_slot.Add(static_cast<std::int64_t>(r->slot));
            s_token.Add(r->lease_token);
            const auto outcome = r->status_code ? domain::ClassifyStatus(*r->status_code)
                                                : domain::AttemptOutcome::kFailed;
            auto decision = domain::DecideRetry(
                settings.schedule, static_cast<std::size_t>(r->step) + 1, r->finished_us,
                unit_random(), outcome, r->retry_after_seconds, settings.retry_after_max);
            d_ids.Add(r->delivery_id);
            d_tokens.Add(r->lease_token);
            d_status.Add(outcome == domain::AttemptOutcome::kSucceeded ? "succeeded"
                         : decision.final                              ? "failed"
                                                                       : "pending");
            d_step.Add(static_cast<std::int64_t>(r->step) + 1);
            d_next.Add(decision.final ? r->finished_us : decision.next_attempt);
            d_code.AddOptional(r->status_code ? std::optional<std::int64_t>(*r->status_code)
                                              : std::nullopt);
            if (r->error.empty()) {
                d_error.AddNull();
            } else {
                d_error.Add(r->error);
            }
            if (decision.final) {
                d_completed.Add(r->finished_us);
            } else {
                d_completed.AddNull();
            }
            a_delivery.Add(r->delivery_id);
            a_endpoint.Add(r->endpoint_id);
            a_at.Add(r->started_us);
            a_code.AddOptional(r->status_code ? std::optional<std::int64_t>(*r->status_code)
                                              : std::nullopt);
            a_latency.Add(r->finished_us - r->started_us);
            if (r->error.empty()) {
                a_error.AddNull();
            } else {
                a_error.Add(r->error);
            }
            a_body.Add(r->response_body);
            auto found = endpoints.find(r->endpoint_id);
            if (found == endpoints.end()) continue;
            EndpointState& state = found->second;
            auto change =
                domain::ApplyOutcome(state.health, outcome, r->finished_us, settings.health);
            state.health = change.health;
            if (change.disable != domain::DisableReason::kNone && state.enabled &&
                state.disable == domain::DisableReason::kNone) {
                state.disable = change.disable;
            }
        }
        // Each delivery by its primary key, whatever the statistics say (migration 006).
        auto updated =
            Run(tx, schema_,
                "SELECT * FROM {S}.record_outcomes($1::text[], $2::bigint[], $3::text[], "
                "$4::int[], $5::bigint[], $6::int[], $7::text[], $8::bigint[])",
                d_ids.Finish(), d_tokens.Finish(), d_status.Finish(), d_step.Finish(),
                d_next.Finish(), d_code.Finish(), d_error.Finish(), d_completed.Finish());
        FreeSlots(tx, schema_, s_endpoint.Finish(), s_slot.Finish(), s_token.Finish());
        Run(tx, schema_,
            "INSERT INTO {S}.attempts (delivery_id, endpoint_id, attempted_us, "
            "status_code, latency_us, error, response_body) SELECT * FROM "
            "unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::bigint[], "
            "$6::text[], $7::text[])",
            a_delivery.Finish(), a_endpoint.Finish(), a_at.Finish(), a_code.Finish(),
            a_latency.Finish(), a_error.Finish(), a_body.Finish());
        commons::PgArrayBuilder e_ids, e_failures, e_since, e_open, e_disable;
        for (const auto& id : changing) {
            const EndpointState& state = endpoints[id];
            e_ids.Add(id);
            e_failures.Add(static_cast<std::int64_t>(state.health.consecutive_failures));
            e_since.AddOptional(state.health.failing_since);
            e_open.AddOptional(state.health.circuit_open_until);
            if (state.disable == domain::DisableReason::kNone) {
                e_disable.AddNull();
            } else {
                e_disable.Add(DisableReasonName(state.disable));
            }
        }
        if (!changing.empty()) {
            Run(tx, schema_,
                "UPDATE {S}.endpoints e SET consecutive_failures = u.failures, "
                "failing_since_us = u.since, circuit_open_until_us = u.open, enabled = "
                "e.enabled AND u.disable IS NULL, disabled_reason = coalesce(u.disable, "
                "e.disabled_reason) FROM unnest($1::text[], $2::int[], $3::bigint[], "
                "$4::bigint[], $5::text[]) AS u(id, failures, since, open, disable) WHERE "
                "e.id = u.id",
                e_ids.Finish(), e_failures.Finish(), e_since.Finish(), e_open.Finish(),
                e_disable.Finish());
        }
        for (const auto& [id, state] : endpoints) {
            if (state.disable == domain::DisableReason::kNone) continue;
            nlohmann::json data{{"endpoint_id", id},
                                {"url", state.url},
                                {"reason", DisableReasonName(state.disable)}};
            if (state.health.failing_since) {
                data["failing_since"] = *state.health.failing_since / domain::kMicrosPerSecond;
            }
            outbox_.Add(tx, "webhook.endpoint.disabled", data.dump());
        }
        return updated.size();
    });
}

std::size_t PgWebhookStore::ReleaseLeases(const std::vector<ClaimedDelivery>& deliveries) {
    if (deliveries.empty()) return 0;
    commons::PgArrayBuilder ids, tokens, endpoints, slots;
    for (const auto& d : deliveries) {
        ids.Add(d.delivery_id);
        tokens.Add(d.lease_token);
        endpoints.Add(d.endpoint_id);
        slots.Add(static_cast<std::int64_t>(d.slot));
    }
    const std::string ids_array = ids.Finish(), tokens_array = tokens.Finish(),
                      endpoints_array = endpoints.Finish(), slots_array = slots.Finish();
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        // The claim counted an attempt that never ran: take it back.
        auto released = tx.exec_params(
            WithSchema("UPDATE {S}.deliveries d SET lease_until_us = NULL, lease_token = NULL, "
                       "attempts = greatest(d.attempts - 1, 0) FROM unnest($1::text[], "
                       "$2::bigint[]) AS u(id, token) WHERE d.id = u.id AND d.lease_token = "
                       "u.token AND d.status = 'pending' RETURNING d.id",
                       schema_),
            ids_array, tokens_array);
        FreeSlots(tx, schema_, endpoints_array, slots_array, tokens_array);
        return released.size();
    });
}

std::optional<DeliveryRecord> PgWebhookStore::FindDelivery(const std::string& id,
                                                           std::vector<AttemptRecord>* attempts,
                                                           std::size_t attempts_limit) {
    // One snapshot for both reads, so the attempt log and the delivery's state agree.
    return commons::WithTransaction<commons::Isolation::kRepeatableRead>(
        pool_, [&](pqxx::dbtransaction& tx) {
            auto delivery = DeliveryById(tx, schema_, id);
            if (!delivery) return delivery;
            if (attempts != nullptr) {
                attempts->clear();
                for (const auto& row : tx.exec_params(
                         WithSchema(std::string("SELECT ") + kAttemptColumns +
                                        " FROM {S}.attempts WHERE delivery_id = $1 ORDER BY id "
                                        "DESC LIMIT $2",
                                    schema_),
                         id, static_cast<std::int64_t>(attempts_limit))) {
                    attempts->push_back(ReadAttempt(row));
                }
            }
            return delivery;
        });
}

Page<AttemptRecord> PgWebhookStore::EndpointAttempts(const std::string& endpoint_id,
                                                     std::size_t limit,
                                                     std::int64_t starting_after) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        Page<AttemptRecord> page;
        for (const auto& row : tx.exec_params(
                 WithSchema(std::string("SELECT ") + kAttemptColumns +
                                " FROM {S}.attempts WHERE endpoint_id = $1 AND ($2 = 0 OR id < "
                                "$2) ORDER BY id DESC LIMIT $3",
                            schema_),
                 endpoint_id, starting_after, static_cast<std::int64_t>(limit + 1))) {
            page.items.push_back(ReadAttempt(row));
        }
        if (page.items.size() > limit) {
            page.items.pop_back();
            page.has_more = true;
        }
        return page;
    });
}

std::optional<DeliveryRecord> PgWebhookStore::RetryDelivery(const std::string& id, Micros now,
                                                            Micros created_since) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        // An attempt in flight keeps its lease: the retry waits for it instead of racing it.
        auto updated = tx.exec_params(
            WithSchema("UPDATE {S}.deliveries SET status = 'pending', step = 0, "
                       "next_attempt_us = $2, completed_us = NULL WHERE id = $1 AND created_us "
                       ">= $3 RETURNING id",
                       schema_),
            id, now, created_since);
        if (updated.empty()) return std::optional<DeliveryRecord>();
        return DeliveryById(tx, schema_, id);
    });
}

std::optional<std::size_t> PgWebhookStore::Recover(const std::string& endpoint_id, Micros since,
                                                   Micros now) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto found = tx.exec_params(
            WithSchema("SELECT id FROM {S}.endpoints WHERE id = $1 AND deleted_us IS NULL",
                       schema_),
            endpoint_id);
        if (found.empty()) return std::optional<std::size_t>();
        auto updated = tx.exec_params(
            WithSchema("UPDATE {S}.deliveries SET status = 'pending', step = 0, next_attempt_us = "
                       "$3, completed_us = NULL WHERE endpoint_id = $1 AND created_us >= $2 AND "
                       "status = 'failed' RETURNING id",
                       schema_),
            endpoint_id, since, now);
        return std::optional<std::size_t>(updated.size());
    });
}

std::size_t PgWebhookStore::CountPending(std::size_t cap) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto row = tx.exec_params1(
            WithSchema("SELECT count(*) FROM (SELECT 1 FROM {S}.deliveries WHERE status = "
                       "'pending' LIMIT $1) AS p",
                       schema_),
            static_cast<std::int64_t>(cap));
        return static_cast<std::size_t>(row[0].as<std::int64_t>());
    });
}

PurgeCounts PgWebhookStore::Purge(const PurgeSettings& settings,
                                  const std::function<bool()>& stop) {
    PurgeCounts counts;
    const auto batch = static_cast<std::int64_t>(settings.batch);
    const auto to_ms = [](Micros us) {
        return static_cast<std::uint64_t>(std::max<Micros>(0, us)) / 1000;
    };
    const std::string delivery_boundary = commons::IdTimeBoundary("dlv", to_ms(settings.cutoff));
    const Micros event_cutoff = settings.cutoff - settings.event_margin;
    const auto count = [](const pqxx::field& field) {
        return static_cast<std::size_t>(field.as<std::int64_t>());
    };
    // A keyset batch's report: the rows it looked at (column 0) and the last id (column 1).
    const auto looked_at = [&](const pqxx::row& row) {
        return std::make_pair(count(row[0]), row[1].as<std::string>());
    };
    // Runs `step` (one transaction; returns the rows it looked at and the last id, for the next
    // batch to start after) until a batch comes back short. False when it stopped early.
    auto repeat =
        [&](const std::function<std::pair<std::size_t, std::string>(const std::string&)>& step) {
            std::string after;  // keyset: each batch starts past the previous one
            for (std::size_t i = 0; i < settings.batches_max; ++i) {
                if (stop()) {
                    counts.more = true;
                    return false;
                }
                auto [seen, last] = step(after);
                if (seen < settings.batch) return true;
                after = std::move(last);
            }
            counts.more = true;
            return false;
        };
    // 1. Old deliveries, with their attempts; a leased one is left to its attempt.
    const bool deliveries_done = repeat([&](const std::string& after) {
        return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
            auto row = tx.exec_params1(
                WithSchema("WITH c AS (SELECT id FROM {S}.deliveries WHERE id > $3 AND id < $1 "
                           "ORDER BY id LIMIT $2), d AS (DELETE FROM {S}.deliveries x WHERE x.id "
                           "IN (SELECT y.id FROM {S}.deliveries y WHERE y.id IN (SELECT id FROM "
                           "c) AND (y.lease_until_us IS NULL OR y.lease_until_us <= $4) FOR "
                           "UPDATE SKIP LOCKED) RETURNING x.id, x.status), a AS (DELETE FROM "
                           "{S}.attempts t USING d WHERE t.delivery_id = d.id RETURNING 1) "
                           "SELECT (SELECT count(*) FROM c), coalesce((SELECT max(id) FROM c), "
                           "''), (SELECT count(*) FROM d), (SELECT count(*) FROM d WHERE status "
                           "= 'pending'), (SELECT count(*) FROM a)",
                           schema_),
                delivery_boundary, batch, after, settings.now);
            counts.deliveries += count(row[2]);
            counts.expired += count(row[3]);
            counts.attempts += count(row[4]);
            return looked_at(row);
        });
    });
    // 2. Events, only once every old delivery that could go is gone, so none is left without
    // its event. By id range (time-ordered ids), checked against the receive time, so an id
    // that is not time-ordered is only taken when it also sorts below the boundary.
    if (deliveries_done) {
        repeat([&](const std::string& after) {
            return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
                auto row = tx.exec_params1(
                    WithSchema("WITH c AS (SELECT id FROM {S}.events WHERE id > $4 AND id < $1 "
                               "AND received_us < $2 ORDER BY id LIMIT $3), d AS (DELETE FROM "
                               "{S}.events e WHERE e.id IN (SELECT o.id FROM {S}.events o WHERE "
                               "o.id IN (SELECT id FROM c) AND o.id NOT IN (SELECT p.event_id "
                               "FROM {S}.deliveries p WHERE p.status = 'pending' AND p.id < $5) "
                               "FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT (SELECT count(*) "
                               "FROM c), coalesce((SELECT max(id) FROM c), ''), (SELECT count(*) "
                               "FROM d)",
                               schema_),
                    commons::IdTimeBoundary("evt", to_ms(event_cutoff)), event_cutoff, batch, after,
                    delivery_boundary);
                counts.events += count(row[2]);
                return looked_at(row);
            });
        });
    }
    // 3. Processed inbound Stripe events.
    repeat([&](const std::string&) {
        return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
            const std::size_t n =
                tx.exec_params(WithSchema("DELETE FROM {S}.inbound_events WHERE id IN (SELECT id "
                                          "FROM {S}.inbound_events WHERE processed_us < $1 LIMIT "
                                          "$2 FOR UPDATE SKIP LOCKED) RETURNING id",
                                          schema_),
                               settings.cutoff, batch)
                    .size();
            counts.inbound_events += n;
            return std::make_pair(n, std::string());
        });
    });
    return counts;
}

bool PgWebhookStore::InsertInbound(const std::string& id, const std::string& type,
                                   const std::string& payload, Micros now) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto inserted = tx.exec_params(
            WithSchema("INSERT INTO {S}.inbound_events (id, type, payload, received_us, "
                       "next_attempt_us) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING "
                       "RETURNING id",
                       schema_),
            id, type, payload, now);
        return !inserted.empty();
    });
}

bool PgWebhookStore::ProcessOneInbound(
    Micros now, const std::function<InboundOutcome(const InboundEvent&)>& handle) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto rows = tx.exec_params(
            WithSchema("SELECT id, type, payload, attempts FROM {S}.inbound_events WHERE "
                       "processed_us IS NULL AND next_attempt_us <= $1 ORDER BY next_attempt_us "
                       "LIMIT 1 FOR UPDATE SKIP LOCKED",
                       schema_),
            now);
        if (rows.empty()) return false;
        InboundEvent event{rows[0][0].as<std::string>(), rows[0][1].as<std::string>(),
                           rows[0][2].as<std::string>(), rows[0][3].as<std::int32_t>()};
        InboundOutcome outcome = handle(event);
        if (outcome.processed) {
            tx.exec_params0(WithSchema("UPDATE {S}.inbound_events SET processed_us = $2, handler = "
                                       "NULLIF($3, ''), attempts = attempts + 1, last_error = "
                                       "NULL WHERE id = $1",
                                       schema_),
                            event.id, now, outcome.handler);
        } else {
            // 1 s, 2 s, 4 s ... up to an hour between tries.
            const int doublings = std::min(event.attempts, 12);
            const Micros backoff = std::min<Micros>(domain::kMicrosPerSecond << doublings,
                                                    3600 * domain::kMicrosPerSecond);
            tx.exec_params0(WithSchema("UPDATE {S}.inbound_events SET attempts = attempts + 1, "
                                       "next_attempt_us = $2, last_error = left($3, 1000) WHERE "
                                       "id = $1",
                                       schema_),
                            event.id, now + backoff, outcome.error);
        }
        return true;
    });
}

std::optional<InboundEvent> PgWebhookStore::FindInbound(const std::string& id, bool* processed,
                                                        std::string* handler) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        auto rows = tx.exec_params(
            WithSchema("SELECT id, type, payload, attempts, processed_us IS NOT NULL, "
                       "coalesce(handler, '') FROM {S}.inbound_events WHERE id = $1",
                       schema_),
            id);
        if (rows.empty()) return std::optional<InboundEvent>();
        if (processed) *processed = rows[0][4].as<bool>();
        if (handler) *handler = rows[0][5].as<std::string>();
        return std::optional<InboundEvent>(
            InboundEvent{rows[0][0].as<std::string>(), rows[0][1].as<std::string>(),
                         rows[0][2].as<std::string>(), rows[0][3].as<std::int32_t>()});
    });
}

}  // namespace webhook::store
