#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "commons/http/types.hpp"

namespace commons {
class ConnectionPool;
class Logger;
}  // namespace commons

namespace middleware {

struct IdempotencySettings {
    // How long a key and its stored response are kept; Stripe's contract is at least 24 h.
    std::chrono::seconds retention{24 * 3600};
    // A request holds its key this long; a replica that died mid-request stops blocking
    // retries once it passes.
    std::chrono::seconds lease{60};
    // Stored response bodies larger than this are not stored (the key is released instead).
    std::size_t stored_body_bytes_max = std::size_t{1024} * 1024;
    // The purge job deletes at most this many expired keys per statement...
    std::size_t purge_batch_max = 1000;
    // ...and runs this often.
    std::chrono::milliseconds purge_interval{60'000};
};

// A stored response to replay.
struct StoredResponse {
    int status = 0;
    commons::http::Headers headers;
    std::string body;
};

// Idempotency keys in the service's own schema (table idempotency_keys, from
// commons/migrations). Safe with several replicas: the first INSERT of a key wins and every
// other request with it sees that row. Blocking (PostgreSQL); call from the blocking pool.
class IdempotencyStore {
  public:
    enum class Outcome {
        kStarted,     // this request owns the key and runs
        kReplay,      // a response is stored: replay it
        kMismatch,    // same key, different method, path or body
        kInProgress,  // same key, first request still running
    };
    struct Begin {
        Outcome outcome;
        std::optional<StoredResponse> stored;  // kReplay
        std::string mismatch;                  // kMismatch: "method", "path" or "body"
        std::string owner;                     // kStarted: the token that holds the key
    };

    IdempotencyStore(commons::ConnectionPool& pool, std::string schema,
                     IdempotencySettings settings, commons::Logger& logger);
    ~IdempotencyStore();  // stops the purge job
    IdempotencyStore(const IdempotencyStore&) = delete;
    IdempotencyStore& operator=(const IdempotencyStore&) = delete;

    Begin Start(const std::string& key_id, const std::string& key, std::string_view method,
                const std::string& path, const std::string& body_sha256);
    // Stores the response. False when `owner` no longer holds the key (its lease ran out and a
    // retry took it over): nothing is written then.
    bool Complete(const std::string& key_id, const std::string& key, const std::string& owner,
                  const StoredResponse& response);
    // Frees the key so a retry can run (validation failures, unavailable dependencies). Only
    // the owner can; false otherwise.
    bool Release(const std::string& key_id, const std::string& key, const std::string& owner);
    // Deletes keys older than the retention, at most purge_batch_max per statement, until none
    // is left or `statements_max` statements ran. Returns how many were deleted.
    std::size_t PurgeExpired(std::size_t statements_max = 100);
    // Starts the background purge job (every purge_interval).
    void StartPurging();

    const IdempotencySettings& settings() const { return settings_; }
    commons::Logger& logger() { return logger_; }

  private:
    commons::ConnectionPool& pool_;
    std::string table_;
    IdempotencySettings settings_;
    commons::Logger& logger_;

    std::mutex purge_mutex_;
    std::condition_variable purge_wakeup_;
    bool stopping_ = false;
    std::thread purger_;
};

// Canonical SHA-256 of a request body: a JSON body is hashed in parsed form (whitespace and
// object key order do not matter), anything else byte for byte, and so is JSON nested more
// than 64 levels deep. Never throws, and takes bounded stack for any body.
std::string BodyFingerprint(std::string_view body);

// Honours `Idempotency-Key` on POST, PUT, PATCH and DELETE (Stripe's semantics): the first
// response is stored and replayed with `Idempotent-Replayed: true`; the same key with another
// method, path or body → 400 `idempotency_error`; while the first request runs → 409
// `idempotency_key_in_use`. Responses to requests that did not get to run (400, 401, 403, 404
// for an unknown route, 405, 409, 413, 429) and failures of a dependency (503) are not stored,
// so the key can be retried. Keys are scoped to the authenticated API key and may be at most
// 255 characters. Must run after authentication.
//
// A request that dies with its replica leaves its key running until the lease passes; a retry
// then runs the request again. Handlers must therefore be safe to re-run after a crash (the
// ledger's client-chosen ids, payin's recovery points). The lease must exceed the request
// timeout, so a live request never loses its key.
commons::http::Middleware Idempotency(IdempotencyStore& store);

}  // namespace middleware
