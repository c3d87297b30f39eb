#include "middleware/idempotency.hpp"

#include <nlohmann/json.hpp>

#include "commons/assert.hpp"
#include "commons/blocking_pool.hpp"
#include "commons/crypto.hpp"
#include "commons/db_transaction.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/migrations.hpp"
#include "commons/redis.hpp"

namespace middleware {
namespace {

using commons::http::Handler;
using commons::http::Method;
using commons::http::Request;
using commons::http::Response;

constexpr std::size_t kKeyBytesMax = 255;
// JSON bodies nested deeper than this are fingerprinted byte for byte. The canonical form is
// written by nlohmann's recursive dump(), which a body of about 100,000 levels (200 KB, well
// within the body limit) runs off the stack; no service accepts bodies half this deep anyway
// (commons::kJsonDepthMax).
constexpr int kFingerprintDepthMax = 64;

// Responses that mean the request never ran: storing them would make a corrected retry with
// the same key impossible.
bool IsNotStored(int status) {
    switch (status) {
        case 400:
        case 401:
        case 403:
        case 405:
        case 409:
        case 413:
        case 429:
        case 503:
            return true;
        default:
            return false;
    }
}

bool IsPrintableAscii(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

Response IdempotencyError(int status, std::string code, std::string message) {
    return Response::Error(commons::ApiError{status, commons::ErrorType::kIdempotency,
                                             std::move(code), std::move(message),
                                             std::string("Idempotency-Key")});
}

// Headers worth replaying: the content type and what handlers add; not per-request ones.
commons::http::Headers StorableHeaders(const commons::http::Headers& headers) {
    commons::http::Headers out;
    for (const auto& [name, value] : headers) {
        std::string lower = name;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower == "x-request-id" || lower == "idempotent-replayed") continue;
        out.emplace_back(name, value);
    }
    return out;
}

}  // namespace

std::string BodyFingerprint(std::string_view body) {
    // Parsing (and destroying what was parsed) takes no stack per level; only dump() does.
    bool too_deep = false;
    const nlohmann::json::parser_callback_t note_depth =
        [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
            if (depth > kFingerprintDepthMax) too_deep = true;
            return true;
        };
    auto parsed = nlohmann::json::parse(body, note_depth, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || too_deep) return "raw:" + commons::Sha256Hex(body);
    // nlohmann::json keeps object keys sorted, so dump() is canonical for key order.
    return "json:" + commons::Sha256Hex(
                         parsed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

IdempotencyStore::IdempotencyStore(commons::ConnectionPool& pool, std::string schema,
                                   IdempotencySettings settings, commons::Logger& logger)
    : pool_(pool), settings_(settings), logger_(logger) {
    PAY_ASSERT(commons::IsValidSchemaName(schema));
    PAY_ASSERT(settings_.purge_batch_max > 0);
    table_ = std::move(schema) + ".idempotency_keys";
}

IdempotencyStore::~IdempotencyStore() {
    {
        std::lock_guard lock(purge_mutex_);
        stopping_ = true;
    }
    purge_wakeup_.notify_all();
    if (purger_.joinable()) purger_.join();
}

IdempotencyStore::Begin IdempotencyStore::Start(const std::string& key_id, const std::string& key,
                                                std::string_view method, const std::string& path,
                                                const std::string& body_sha256) {
    const std::string method_name(method);
    const auto lease = std::to_string(settings_.lease.count()) + " seconds";
    const auto retention = std::to_string(settings_.retention.count()) + " seconds";
    const std::string owner = commons::RandomHex(16);
    // A key can disappear between the INSERT and the SELECT (its owner released it, or the
    // purge ran): then the INSERT is tried again. Three rounds are plenty; more means a bug.
    constexpr int kRoundsMax = 3;
    for (int round = 0; round < kRoundsMax; ++round) {
        auto begin =
            commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) -> std::optional<Begin> {
                auto inserted = tx.exec_params(
                    "INSERT INTO " + table_ +
                        " (key_id, idempotency_key, method, path, body_sha256, state, "
                        "locked_until, owner) "
                        "VALUES ($1, $2, $3, $4, $5, 'running', now() + $6::interval, $7) "
                        "ON CONFLICT (key_id, idempotency_key) DO NOTHING RETURNING 1",
                    key_id, key, method_name, path, body_sha256, lease, owner);
                if (!inserted.empty()) return Begin{Outcome::kStarted, std::nullopt, "", owner};

                auto rows = tx.exec_params(
                    "SELECT method, path, body_sha256, state, locked_until > now(), "
                    "response_status, "
                    "response_headers::text, response_body, created_at < now() - $3::interval "
                    "FROM " +
                        table_ + " WHERE key_id = $1 AND idempotency_key = $2 FOR UPDATE",
                    key_id, key, retention);
                if (rows.empty()) return std::nullopt;  // gone since the INSERT: try again
                const auto row = rows[0];
                if (row[8].as<bool>()) {
                    // Past its retention but not purged yet: the key is free again.
                    tx.exec_params(
                        "UPDATE " + table_ +
                            " SET method = $3, path = $4, body_sha256 = $5, state = 'running', "
                            "locked_until = now() + $6::interval, owner = $7, "
                            "recovery_point = 'started', response_status = NULL, "
                            "response_headers = NULL, response_body = NULL, created_at = now(), "
                            "completed_at = NULL WHERE key_id = $1 AND idempotency_key = $2",
                        key_id, key, method_name, path, body_sha256, lease, owner);
                    return Begin{Outcome::kStarted, std::nullopt, "", owner};
                }
                if (row[0].as<std::string>() != method_name)
                    return Begin{Outcome::kMismatch, std::nullopt, "method", ""};
                if (row[1].as<std::string>() != path)
                    return Begin{Outcome::kMismatch, std::nullopt, "path", ""};
                if (row[2].as<std::string>() != body_sha256)
                    return Begin{Outcome::kMismatch, std::nullopt, "body", ""};
                if (row[3].as<std::string>() == "complete") {
                    StoredResponse stored;
                    stored.status = row[5].as<int>();
                    const auto headers = nlohmann::json::parse(row[6].as<std::string>());
                    for (const auto& [name, value] : headers.items()) {
                        stored.headers.emplace_back(name, value.get<std::string>());
                    }
                    pqxx::binarystring body(row[7]);
                    stored.body = body.str();
                    return Begin{Outcome::kReplay, std::move(stored), "", ""};
                }
                if (row[4].as<bool>()) return Begin{Outcome::kInProgress, std::nullopt, "", ""};
                // The lease ran out: whoever held the key died mid-request. Take it over; the old
                // owner, should it still be running, can no longer complete or release it.
                tx.exec_params("UPDATE " + table_ +
                                   " SET locked_until = now() + $3::interval, owner = $4 "
                                   "WHERE key_id = $1 AND idempotency_key = $2",
                               key_id, key, lease, owner);
                return Begin{Outcome::kStarted, std::nullopt, "", owner};
            });
        if (begin) return std::move(*begin);
    }
    throw std::runtime_error("idempotency key kept vanishing between insert and select");
}

bool IdempotencyStore::Complete(const std::string& key_id, const std::string& key,
                                const std::string& owner, const StoredResponse& response) {
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [name, value] : response.headers) headers[name] = value;
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        pqxx::binarystring body(response.body.data(), response.body.size());
        return tx.exec_params(
                     "UPDATE " + table_ +
                         " SET state = 'complete', locked_until = NULL, response_status = $4, "
                         "response_headers = $5::jsonb, response_body = $6, completed_at = now() "
                         "WHERE key_id = $1 AND idempotency_key = $2 AND owner = $3 "
                         "AND state = 'running'",
                     key_id, key, owner, response.status,
                     headers.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), body)
                   .affected_rows() == 1;
    });
}

bool IdempotencyStore::Release(const std::string& key_id, const std::string& key,
                               const std::string& owner) {
    return commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
        return tx.exec_params("DELETE FROM " + table_ +
                                  " WHERE key_id = $1 AND idempotency_key = $2 AND owner = $3 "
                                  "AND state = 'running'",
                              key_id, key, owner)
                   .affected_rows() == 1;
    });
}

std::size_t IdempotencyStore::PurgeExpired(std::size_t statements_max) {
    const auto retention = std::to_string(settings_.retention.count()) + " seconds";
    std::size_t total = 0;
    for (std::size_t i = 0; i < statements_max; ++i) {
        auto deleted = commons::WithTransaction(pool_, [&](pqxx::dbtransaction& tx) {
            return tx
                .exec_params("DELETE FROM " + table_ + " WHERE ctid = ANY(ARRAY(SELECT ctid FROM " +
                                 table_ + " WHERE created_at < now() - $1::interval LIMIT $2))",
                             retention, settings_.purge_batch_max)
                .affected_rows();
        });
        total += deleted;
        if (deleted < settings_.purge_batch_max) break;
    }
    return total;
}

void IdempotencyStore::StartPurging() {
    PAY_ASSERT(!purger_.joinable());
    purger_ = std::thread([this] {
        std::unique_lock lock(purge_mutex_);
        while (
            !purge_wakeup_.wait_for(lock, settings_.purge_interval, [this] { return stopping_; })) {
            lock.unlock();
            try {
                auto deleted = PurgeExpired();
                if (deleted > 0) logger_.Info("idempotency keys purged", {{"deleted", deleted}});
            } catch (const std::exception& error) {
                logger_.Warn("idempotency key purge failed", {{"error", error.what()}});
            }
            lock.lock();
        }
    });
}

commons::http::Middleware Idempotency(IdempotencyStore& store) {
    return [&store](Request& request, const Handler& next) -> Response {
        auto header = request.Header("idempotency-key");
        const bool writes = request.method == Method::kPost || request.method == Method::kPut ||
                            request.method == Method::kPatch || request.method == Method::kDelete;
        if (!header || !writes || request.route.empty() || request.key_id.empty()) {
            return next(request);
        }
        const std::string key(*header);
        if (key.empty() || key.size() > kKeyBytesMax || !IsPrintableAscii(key)) {
            return Response::Error(commons::ApiError::BadRequest(
                "idempotency_key_invalid",
                "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
                std::string("Idempotency-Key")));
        }
        auto begin = store.Start(request.key_id, key, commons::http::MethodName(request.method),
                                 request.path, BodyFingerprint(request.body));
        switch (begin.outcome) {
            case IdempotencyStore::Outcome::kReplay: {
                Response replay{begin.stored->status, begin.stored->headers, begin.stored->body};
                replay.SetHeader("Idempotent-Replayed", "true");
                return replay;
            }
            case IdempotencyStore::Outcome::kMismatch:
                return IdempotencyError(400, "idempotency_error",
                                        "This Idempotency-Key was already used with a different " +
                                            begin.mismatch +
                                            "; use a new key for a different request.");
            case IdempotencyStore::Outcome::kInProgress: {
                auto response = IdempotencyError(
                    409, "idempotency_key_in_use",
                    "A request with this Idempotency-Key is still running; retry after it ends.");
                response.SetHeader("Retry-After", "1");
                return response;
            }
            case IdempotencyStore::Outcome::kStarted:
                break;
        }

        const std::string owner = begin.owner;
        auto& logger = store.logger();
        // Bookkeeping must never replace the error being handled: a failure here is logged and
        // the key left to its lease.
        auto release = [&] {
            try {
                if (!store.Release(request.key_id, key, owner)) {
                    logger.Warn("idempotency key lost before release",
                                {{"key_id", request.key_id}});
                }
            } catch (const std::exception& error) {
                logger.Error("idempotency key release failed", {{"error", error.what()}});
            }
        };
        auto complete = [&](const StoredResponse& stored) {
            // The work is done; storing its response is worth a few attempts, because a key
            // left running is run again by a retry once the lease passes.
            constexpr int kAttempts = 3;
            for (int attempt = 1; attempt <= kAttempts; ++attempt) {
                try {
                    if (!store.Complete(request.key_id, key, owner, stored)) {
                        logger.Warn("idempotency key taken over before completion",
                                    {{"key_id", request.key_id}});
                    }
                    return;
                } catch (const std::exception& error) {
                    if (attempt == kAttempts) {
                        logger.Error(
                            "idempotency response not stored; the key stays running "
                            "until its lease passes",
                            {{"error", error.what()}});
                    }
                }
            }
        };

        Response response;
        try {
            response = next(request);
        } catch (const commons::DatabaseUnavailableError&) {
            // The handler's transaction did not commit: free the key for a retry.
            release();
            throw;
        } catch (const commons::RedisUnavailableError&) {
            release();
            throw;
        } catch (const commons::OverloadedError&) {
            release();
            throw;
        } catch (const std::exception&) {
            // A bug: the outcome is unknown, so the key keeps the 500 (Stripe's behaviour).
            complete({500,
                      {{"Content-Type", "application/json"}},
                      commons::ApiError::Internal().ToJson()});
            throw;
        }
        if (IsNotStored(response.status) ||
            response.body.size() > store.settings().stored_body_bytes_max) {
            release();
        } else {
            complete({response.status, StorableHeaders(response.headers), response.body});
        }
        return response;
    };
}

}  // namespace middleware
