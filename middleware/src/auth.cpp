#include "middleware/auth.hpp"

#include <algorithm>
#include <sstream>

#include "commons/config.hpp"
#include "commons/crypto.hpp"
#include "commons/log.hpp"
#include "commons/secrets.hpp"

namespace middleware {
namespace {

constexpr std::string_view kSecretName = "api-keys";
// Keys longer than this are not keys; refusing them early bounds the hashing work.
constexpr std::size_t kPresentedKeyBytesMax = 256;

bool IsHex64(std::string_view text) {
    return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

}  // namespace

bool ApiKey::HasScope(std::string_view scope) const {
    return std::any_of(scopes.begin(), scopes.end(),
                       [scope](const std::string& s) { return s == "*" || s == scope; });
}

std::vector<ApiKey> ParseApiKeys(std::string_view text) {
    std::vector<ApiKey> keys;
    std::istringstream lines{std::string(text)};
    std::string line;
    int number = 0;
    while (std::getline(lines, line)) {
        ++number;
        auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') continue;
        std::istringstream fields(line);
        ApiKey key;
        std::string scopes;
        std::string extra;
        fields >> key.id >> key.sha256_hex >> scopes;
        auto where = "api-keys line " + std::to_string(number);
        if (key.id.empty() || scopes.empty() || (fields >> extra)) {
            throw commons::ConfigError(where, "expected \"<key_id> <sha256 hex> <scopes>\"");
        }
        if (!IsHex64(key.sha256_hex)) {
            throw commons::ConfigError(where, "the hash must be 64 lower-case hex characters");
        }
        std::istringstream scope_list(scopes);
        std::string scope;
        while (std::getline(scope_list, scope, ',')) {
            if (!scope.empty()) key.scopes.push_back(scope);
        }
        if (key.scopes.empty()) throw commons::ConfigError(where, "a key needs at least one scope");
        for (const auto& existing : keys) {
            if (existing.id == key.id)
                throw commons::ConfigError(where, "duplicate key id " + key.id);
        }
        keys.push_back(std::move(key));
    }
    return keys;
}

ApiKeyStore::ApiKeyStore(const commons::SecretStore& secrets, commons::Logger& logger,
                         std::chrono::milliseconds refresh_interval)
    : secrets_(secrets), logger_(logger), refresh_interval_(refresh_interval) {
    auto secret = secrets_.Required(kSecretName);
    keys_ = std::make_shared<const std::vector<ApiKey>>(ParseApiKeys(secret.Reveal()));
    source_hash_ = commons::Sha256Hex(secret.Reveal());
    next_refresh_ = std::chrono::steady_clock::now() + refresh_interval_;
}

void ApiKeyStore::Refresh() {
    try {
        auto secret = secrets_.Find(kSecretName);
        if (!secret) {
            logger_.Warn("api-keys secret disappeared; keeping the loaded keys");
            return;
        }
        auto hash = commons::Sha256Hex(secret->Reveal());
        {
            std::lock_guard lock(mutex_);
            if (hash == source_hash_) return;
        }
        auto keys = std::make_shared<const std::vector<ApiKey>>(ParseApiKeys(secret->Reveal()));
        std::lock_guard lock(mutex_);
        keys_ = std::move(keys);
        source_hash_ = std::move(hash);
        logger_.Info("api keys reloaded", {{"keys", keys_->size()}});
    } catch (const std::exception& error) {
        logger_.Warn("api-keys secret changed but is invalid; keeping the loaded keys",
                     {{"error", error.what()}});
    }
}

std::optional<ApiKey> ApiKeyStore::Authenticate(std::string_view presented_key) {
    if (presented_key.empty() || presented_key.size() > kPresentedKeyBytesMax) return std::nullopt;
    bool refresh = false;
    {
        std::lock_guard lock(mutex_);
        auto now = std::chrono::steady_clock::now();
        if (now >= next_refresh_) {
            next_refresh_ = now + refresh_interval_;
            refresh = true;
        }
    }
    if (refresh) Refresh();
    std::shared_ptr<const std::vector<ApiKey>> keys;
    {
        std::lock_guard lock(mutex_);
        keys = keys_;
    }
    const std::string hash = commons::Sha256Hex(presented_key);
    // Compare with every key, without stopping at a match, so timing reveals nothing.
    const ApiKey* found = nullptr;
    for (const auto& key : *keys) {
        if (commons::ConstantTimeEquals(hash, key.sha256_hex)) found = &key;
    }
    if (found == nullptr) return std::nullopt;
    return *found;
}

std::size_t ApiKeyStore::size() const {
    std::lock_guard lock(mutex_);
    return keys_->size();
}

commons::http::Middleware Authentication(ApiKeyStore& keys,
                                         std::vector<std::string> public_route_prefixes) {
    using commons::ApiError;
    using commons::http::Response;
    return [&keys, public_route_prefixes = std::move(public_route_prefixes)](
               commons::http::Request& request, const commons::http::Handler& next) -> Response {
        if (request.path.rfind("/v1/", 0) != 0 && request.path != "/v1") return next(request);
        for (const auto& prefix : public_route_prefixes) {
            if (request.path.rfind(prefix, 0) == 0) return next(request);
        }
        auto header = request.Header("authorization");
        constexpr std::string_view kBearer = "Bearer ";
        if (!header || header->size() <= kBearer.size() ||
            !std::equal(kBearer.begin(), kBearer.end(), header->begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
            })) {
            auto response = Response::Error(ApiError::Unauthorized(
                "missing_api_key",
                "Provide an API key in the Authorization header: \"Bearer <key>\"."));
            response.SetHeader("WWW-Authenticate", "Bearer");
            return response;
        }
        auto key = keys.Authenticate(header->substr(kBearer.size()));
        if (!key) {
            auto response = Response::Error(
                ApiError::Unauthorized("invalid_api_key", "The API key is not valid."));
            response.SetHeader("WWW-Authenticate", "Bearer error=\"invalid_token\"");
            return response;
        }
        request.key_id = key->id;
        if (!request.required_scope.empty() && !key->HasScope(request.required_scope)) {
            return Response::Error(ApiError::Forbidden("This API key lacks the scope " +
                                                       request.required_scope + "."));
        }
        return next(request);
    };
}

}  // namespace middleware
