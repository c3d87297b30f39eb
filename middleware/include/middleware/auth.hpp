#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commons/http/types.hpp"

namespace commons {
class Logger;
class SecretStore;
}  // namespace commons

namespace middleware {

struct ApiKey {
    std::string id;                   // safe to log
    std::string sha256_hex;           // hash of the key; the key itself is never stored
    std::vector<std::string> scopes;  // "ledger:read", ...; "*" means every scope

    bool HasScope(std::string_view scope) const;
};

// Parses the `api-keys` secret: `#` comments, blank lines, and lines of
// `<key_id> <sha256 hex of the key> <scope>[,<scope>...]`. Throws commons::ConfigError naming
// the line for a malformed one.
std::vector<ApiKey> ParseApiKeys(std::string_view text);

// The API keys a service accepts, from the `api-keys` secret. Looking a key up hashes it and
// compares against every stored hash in constant time. The secret is re-read when
// Refresh() finds it changed (called at most once per `refresh_interval` by Authenticate), so
// keys rotate without a restart; a changed file that does not parse is refused and the old
// keys kept.
class ApiKeyStore {
  public:
    ApiKeyStore(const commons::SecretStore& secrets, commons::Logger& logger,
                std::chrono::milliseconds refresh_interval);  // throws ConfigError

    std::optional<ApiKey> Authenticate(std::string_view presented_key);
    void Refresh();
    std::size_t size() const;

  private:
    const commons::SecretStore& secrets_;
    commons::Logger& logger_;
    std::chrono::milliseconds refresh_interval_;
    mutable std::mutex mutex_;
    std::shared_ptr<const std::vector<ApiKey>> keys_;
    std::string source_hash_;
    std::chrono::steady_clock::time_point next_refresh_;
};

// Requires `Authorization: Bearer <key>` on every path under /v1/ except those listed as
// public (webhook intake, authenticated by signature). Missing or malformed → 401
// `missing_api_key`; unknown → 401 `invalid_api_key`; a key without the route's
// required_scope → 403 `insufficient_scope`. Sets Request::key_id.
commons::http::Middleware Authentication(ApiKeyStore& keys,
                                         std::vector<std::string> public_route_prefixes = {});

}  // namespace middleware
