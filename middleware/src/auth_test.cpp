#include "middleware/auth.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commons/config.hpp"
#include "commons/crypto.hpp"
#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/secrets.hpp"

namespace middleware {
namespace {

namespace fs = std::filesystem;
using commons::http::Request;
using commons::http::Response;
using testing::ElementsAre;
using testing::HasSubstr;

constexpr std::string_view kOldKey = "sk_test_old_0123456789";
constexpr std::string_view kNewKey = "sk_test_new_9876543210";

std::string KeyLine(std::string_view id, std::string_view key, std::string_view scopes) {
    return std::string(id) + " " + commons::Sha256Hex(key) + " " + std::string(scopes) + "\n";
}

// The ConfigError `call` throws, as what().
template <typename Call>
std::string ConfigErrorMessage(Call call) {
    try {
        call();
    } catch (const commons::ConfigError& error) {
        return error.what();
    }
    ADD_FAILURE() << "no ConfigError thrown";
    return "";
}

// ---- ParseApiKeys ----

TEST(ParseApiKeys, ParsesKeyLines) {
    auto keys = ParseApiKeys(KeyLine("key_ledger", "a", "ledger:read,ledger:write") +
                             KeyLine("key_admin", "b", "*"));
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].id, "key_ledger");
    EXPECT_EQ(keys[0].sha256_hex, commons::Sha256Hex("a"));
    EXPECT_THAT(keys[0].scopes, ElementsAre("ledger:read", "ledger:write"));
    EXPECT_EQ(keys[1].id, "key_admin");
    EXPECT_THAT(keys[1].scopes, ElementsAre("*"));
}

TEST(ParseApiKeys, SkipsCommentsAndBlankLines) {
    auto keys = ParseApiKeys("# rotated 2024-05-01\n\n   \n\t\n  # indented comment\n" +
                             KeyLine("key_1", "a", "ledger:read") + "\r\n");
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].id, "key_1");
}

TEST(ParseApiKeys, EmptyTextHasNoKeys) {
    EXPECT_TRUE(ParseApiKeys("").empty());
    EXPECT_TRUE(ParseApiKeys("# only a comment\n").empty());
}

TEST(ParseApiKeys, AcceptsTabsExtraSpacesAndCrlf) {
    std::string hash = commons::Sha256Hex("a");
    auto keys = ParseApiKeys("  key_1 \t" + hash + "   ledger:read\r\nkey_2\t" +
                             commons::Sha256Hex("b") + "\tpayin:write");
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].id, "key_1");
    EXPECT_THAT(keys[0].scopes, ElementsAre("ledger:read"));
    EXPECT_EQ(keys[1].id, "key_2");
    EXPECT_THAT(keys[1].scopes, ElementsAre("payin:write"));
}

TEST(ParseApiKeys, DropsEmptyScopesBetweenCommas) {
    auto keys = ParseApiKeys(KeyLine("key_1", "a", "ledger:read,,payin:write,"));
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_THAT(keys[0].scopes, ElementsAre("ledger:read", "payin:write"));
}

TEST(ParseApiKeys, RejectsMissingScopesNamingLine) {
    std::string text = "# header\n" + KeyLine("key_1", "a", "ledger:read") + "key_2 " +
                       commons::Sha256Hex("b") + "\n";
    std::string message = ConfigErrorMessage([&] { ParseApiKeys(text); });
    EXPECT_THAT(message, HasSubstr("api-keys line 3"));
    EXPECT_THAT(message, HasSubstr("<key_id> <sha256 hex> <scopes>"));
}

TEST(ParseApiKeys, RejectsLoneIdNamingLine) {
    EXPECT_THAT(ConfigErrorMessage([] { ParseApiKeys("key_1\n"); }), HasSubstr("line 1"));
}

TEST(ParseApiKeys, RejectsExtraFieldNamingLine) {
    std::string text = KeyLine("key_1", "a", "ledger:read") + KeyLine("key_2", "b", "x extra");
    EXPECT_THAT(ConfigErrorMessage([&] { ParseApiKeys(text); }), HasSubstr("api-keys line 2"));
}

TEST(ParseApiKeys, RejectsMalformedHashNamingLine) {
    std::string hash = commons::Sha256Hex("a");
    std::string upper = hash;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const std::string& bad :
         {hash.substr(1), hash + "0", upper, "g" + hash.substr(1), std::string("plainkey")}) {
        std::string text = "\n" + std::string("key_1 ") + bad + " ledger:read\n";
        std::string message = ConfigErrorMessage([&] { ParseApiKeys(text); });
        EXPECT_THAT(message, HasSubstr("api-keys line 2")) << bad;
        EXPECT_THAT(message, HasSubstr("64 lower-case hex")) << bad;
        // The error never echoes what was in the hash column (it might be a raw key).
        EXPECT_THAT(message, testing::Not(HasSubstr(bad))) << bad;
    }
}

TEST(ParseApiKeys, RejectsDuplicateIdNamingLineAndId) {
    std::string text = KeyLine("key_1", "a", "ledger:read") + KeyLine("key_2", "b", "*") +
                       KeyLine("key_1", "c", "payin:write");
    std::string message = ConfigErrorMessage([&] { ParseApiKeys(text); });
    EXPECT_THAT(message, HasSubstr("api-keys line 3"));
    EXPECT_THAT(message, HasSubstr("duplicate key id key_1"));
}

TEST(ParseApiKeys, CountsCommentAndBlankLinesInLineNumbers) {
    std::string text = "# one\n\n# three\n" + KeyLine("key_1", "a", "x") + "oops\n";
    EXPECT_THAT(ConfigErrorMessage([&] { ParseApiKeys(text); }), HasSubstr("api-keys line 5"));
}

// ---- ApiKey::HasScope ----

TEST(ApiKeyHasScope, MatchesListedScopesExactly) {
    ApiKey key{"key_1", commons::Sha256Hex("a"), {"ledger:read", "payin:write"}};
    EXPECT_TRUE(key.HasScope("ledger:read"));
    EXPECT_TRUE(key.HasScope("payin:write"));
    EXPECT_FALSE(key.HasScope("ledger:write"));
    EXPECT_FALSE(key.HasScope("ledger"));
    EXPECT_FALSE(key.HasScope("ledger:read:extra"));
    EXPECT_FALSE(key.HasScope("LEDGER:READ"));
    EXPECT_FALSE(key.HasScope(""));
}

TEST(ApiKeyHasScope, StarGrantsEveryScope) {
    ApiKey key{"key_admin", commons::Sha256Hex("a"), {"*"}};
    EXPECT_TRUE(key.HasScope("ledger:read"));
    EXPECT_TRUE(key.HasScope("payout:write"));
    EXPECT_TRUE(key.HasScope("anything"));
}

TEST(ApiKeyHasScope, NoScopesGrantNothing) {
    ApiKey key{"key_none", commons::Sha256Hex("a"), {}};
    EXPECT_FALSE(key.HasScope("ledger:read"));
    EXPECT_FALSE(key.HasScope("*"));
}

// ---- ApiKeyStore and Authentication ----

// A secrets directory with an `api-keys` file, a store over it, and a quiet logger.
class AuthTest : public testing::Test {
  protected:
    AuthTest()
        : dir_(fs::temp_directory_path() / ("payments-auth-test-" + commons::RandomHex(8))),
          log_file_(std::tmpfile()),
          logger_("test", log_file_),
          secrets_(dir_, env_) {
        fs::create_directories(dir_);
        WriteKeys(KeyLine("key_old", kOldKey, "ledger:read"));
    }
    ~AuthTest() override {
        std::fclose(log_file_);
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }

    void WriteKeys(const std::string& content) {
        std::ofstream out(dir_ / "api-keys", std::ios::binary | std::ios::trunc);
        out << content;
        ASSERT_TRUE(out.good());
    }

    // A store that never refreshes on its own during a test.
    std::unique_ptr<ApiKeyStore> Store() {
        return std::make_unique<ApiKeyStore>(secrets_, logger_, std::chrono::hours(1));
    }

    static Request RequestTo(std::string path, std::optional<std::string> authorization) {
        Request request;
        request.method = commons::http::Method::kGet;
        request.target = path;
        request.path = std::move(path);
        if (authorization) request.headers.emplace_back("authorization", *authorization);
        return request;
    }

    // Runs `request` through the middleware; `next_calls` counts the handler calls.
    Response Run(ApiKeyStore& store, Request& request,
                 std::vector<std::string> public_prefixes = {}) {
        auto middleware = Authentication(store, std::move(public_prefixes));
        commons::http::Handler next = [this](Request& r) {
            ++next_calls_;
            last_key_id_ = r.key_id;
            return Response::Json(200, "{}");
        };
        return middleware(request, next);
    }

    static void ExpectUnauthorized(const Response& response, std::string_view code) {
        EXPECT_EQ(response.status, 401);
        EXPECT_THAT(response.body, HasSubstr("\"code\":\"" + std::string(code) + "\""));
        EXPECT_THAT(response.body, HasSubstr("\"type\":\"authentication_error\""));
        ASSERT_TRUE(response.Header("www-authenticate").has_value());
        EXPECT_THAT(std::string(*response.Header("www-authenticate")), HasSubstr("Bearer"));
    }

    fs::path dir_;
    std::FILE* log_file_;
    commons::Logger logger_;
    // Shared with the store, so a test can set variables after the store was made.
    std::shared_ptr<commons::MapEnvironment> env_ = std::make_shared<commons::MapEnvironment>();
    commons::SecretStore secrets_;
    int next_calls_ = 0;
    std::string last_key_id_;
};

TEST_F(AuthTest, StoreLoadsKeysAtConstruction) {
    WriteKeys(KeyLine("key_a", "a", "*") + KeyLine("key_b", "b", "ledger:read"));
    auto store = Store();
    EXPECT_EQ(store->size(), 2u);
}

TEST_F(AuthTest, StoreConstructionThrowsWhenSecretMissing) {
    fs::remove(dir_ / "api-keys");
    EXPECT_THROW(Store(), commons::ConfigError);
}

TEST_F(AuthTest, StoreConstructionThrowsForMalformedFile) {
    WriteKeys("key_1 nothex ledger:read\n");
    EXPECT_THAT(ConfigErrorMessage([&] { Store(); }), HasSubstr("api-keys line 1"));
}

TEST_F(AuthTest, StoreReadsKeysFromEnvironmentWithoutFile) {
    fs::remove(dir_ / "api-keys");
    env_->Set("PAYMENTS_API_KEYS", KeyLine("key_env", kNewKey, "*"));
    auto store = Store();
    auto key = store->Authenticate(kNewKey);
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(key->id, "key_env");
}

TEST_F(AuthTest, AuthenticateReturnsMatchingKey) {
    WriteKeys(KeyLine("key_a", "key-a", "ledger:read") + KeyLine("key_b", "key-b", "*"));
    auto store = Store();
    auto a = store->Authenticate("key-a");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->id, "key_a");
    EXPECT_THAT(a->scopes, ElementsAre("ledger:read"));
    auto b = store->Authenticate("key-b");
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->id, "key_b");
    EXPECT_TRUE(b->HasScope("payout:write"));
}

TEST_F(AuthTest, AuthenticateRefusesUnknownEmptyAndOversizedKeys) {
    auto store = Store();
    EXPECT_FALSE(store->Authenticate("sk_test_unknown").has_value());
    EXPECT_FALSE(store->Authenticate("").has_value());
    EXPECT_FALSE(store->Authenticate(std::string(kOldKey) + " ").has_value());
    EXPECT_FALSE(store->Authenticate(commons::Sha256Hex(kOldKey)).has_value());  // the hash itself
    EXPECT_FALSE(store->Authenticate(std::string(300, 'k')).has_value());
}

TEST_F(AuthTest, AuthenticateAcceptsKeyAt256BytesAndRefuses257) {
    std::string longest(256, 'k');
    std::string too_long(257, 'k');
    WriteKeys(KeyLine("key_256", longest, "*") + KeyLine("key_257", too_long, "*"));
    auto store = Store();
    EXPECT_TRUE(store->Authenticate(longest).has_value());
    EXPECT_FALSE(store->Authenticate(too_long).has_value());
}

TEST_F(AuthTest, MissingHeaderIs401MissingApiKey) {
    auto store = Store();
    auto request = RequestTo("/v1/accounts", std::nullopt);
    ExpectUnauthorized(Run(*store, request), "missing_api_key");
    EXPECT_EQ(next_calls_, 0);
    EXPECT_EQ(request.key_id, "");
}

TEST_F(AuthTest, BasicSchemeIs401MissingApiKey) {
    auto store = Store();
    auto request = RequestTo("/v1/accounts", "Basic xyz");
    ExpectUnauthorized(Run(*store, request), "missing_api_key");
    EXPECT_EQ(next_calls_, 0);
}

TEST_F(AuthTest, EmptyBearerIs401MissingApiKey) {
    auto store = Store();
    for (const char* header : {"Bearer ", "Bearer", "", "Token abc"}) {
        auto request = RequestTo("/v1/accounts", header);
        ExpectUnauthorized(Run(*store, request), "missing_api_key");
    }
    EXPECT_EQ(next_calls_, 0);
}

TEST_F(AuthTest, KeyWithoutSchemeIs401MissingApiKey) {
    auto store = Store();
    auto request = RequestTo("/v1/accounts", std::string(kOldKey));
    ExpectUnauthorized(Run(*store, request), "missing_api_key");
    EXPECT_EQ(next_calls_, 0);
}

TEST_F(AuthTest, UnknownKeyIs401InvalidApiKey) {
    auto store = Store();
    auto request = RequestTo("/v1/accounts", "Bearer sk_test_unknown");
    auto response = Run(*store, request);
    ExpectUnauthorized(response, "invalid_api_key");
    EXPECT_EQ(*response.Header("www-authenticate"), "Bearer error=\"invalid_token\"");
    EXPECT_EQ(next_calls_, 0);
    EXPECT_EQ(request.key_id, "");
}

TEST_F(AuthTest, OversizedKeyIs401) {
    auto store = Store();
    auto request = RequestTo("/v1/accounts", "Bearer " + std::string(300, 'k'));
    auto response = Run(*store, request);
    EXPECT_EQ(response.status, 401);
    ExpectUnauthorized(response, "invalid_api_key");
    EXPECT_EQ(next_calls_, 0);
}

TEST_F(AuthTest, ValidKeyCallsNextWithKeyId) {
    auto store = Store();
    auto request = RequestTo("/v1/accounts/acct_1", "Bearer " + std::string(kOldKey));
    auto response = Run(*store, request);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(next_calls_, 1);
    EXPECT_EQ(request.key_id, "key_old");
    EXPECT_EQ(last_key_id_, "key_old");  // set before the handler runs
}

TEST_F(AuthTest, SchemeIsCaseInsensitive) {
    auto store = Store();
    for (const char* scheme : {"bearer ", "BEARER ", "BeArEr "}) {
        auto request = RequestTo("/v1/accounts", scheme + std::string(kOldKey));
        EXPECT_EQ(Run(*store, request).status, 200) << scheme;
        EXPECT_EQ(request.key_id, "key_old");
    }
}

TEST_F(AuthTest, ExactV1PathNeedsAuthentication) {
    auto store = Store();
    auto request = RequestTo("/v1", std::nullopt);
    ExpectUnauthorized(Run(*store, request), "missing_api_key");
    EXPECT_EQ(next_calls_, 0);
}

TEST_F(AuthTest, NonV1PathsPassWithoutAuthentication) {
    auto store = Store();
    for (const char* path : {"/healthz", "/readyz", "/metrics", "/", "/v10/accounts", "/v1x",
                             "/v2/accounts", "/api/v1/accounts"}) {
        auto request = RequestTo(path, std::nullopt);
        EXPECT_EQ(Run(*store, request).status, 200) << path;
        EXPECT_EQ(request.key_id, "") << path;
    }
    EXPECT_EQ(next_calls_, 8);
}

TEST_F(AuthTest, PublicPrefixesPassWithoutAuthentication) {
    auto store = Store();
    auto webhook = RequestTo("/v1/webhooks/psp", std::nullopt);
    EXPECT_EQ(Run(*store, webhook, {"/v1/webhooks/"}).status, 200);
    auto other = RequestTo("/v1/accounts", std::nullopt);
    ExpectUnauthorized(Run(*store, other, {"/v1/webhooks/"}), "missing_api_key");
    EXPECT_EQ(next_calls_, 1);
}

TEST_F(AuthTest, RefreshRotatesKeys) {
    auto store = Store();
    ASSERT_TRUE(store->Authenticate(kOldKey).has_value());
    WriteKeys(KeyLine("key_new", kNewKey, "ledger:read"));
    store->Refresh();
    EXPECT_FALSE(store->Authenticate(kOldKey).has_value());
    auto key = store->Authenticate(kNewKey);
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(key->id, "key_new");
    EXPECT_EQ(store->size(), 1u);

    auto old_request = RequestTo("/v1/accounts", "Bearer " + std::string(kOldKey));
    ExpectUnauthorized(Run(*store, old_request), "invalid_api_key");
    auto new_request = RequestTo("/v1/accounts", "Bearer " + std::string(kNewKey));
    EXPECT_EQ(Run(*store, new_request).status, 200);
    EXPECT_EQ(new_request.key_id, "key_new");
}

TEST_F(AuthTest, RefreshKeepsOverlappingKeysDuringRotation) {
    auto store = Store();
    WriteKeys(KeyLine("key_old", kOldKey, "ledger:read") + KeyLine("key_new", kNewKey, "*"));
    store->Refresh();
    EXPECT_TRUE(store->Authenticate(kOldKey).has_value());
    EXPECT_TRUE(store->Authenticate(kNewKey).has_value());
    EXPECT_EQ(store->size(), 2u);
}

TEST_F(AuthTest, InvalidRewrittenFileKeepsOldKeys) {
    auto store = Store();
    WriteKeys(KeyLine("key_new", kNewKey, "*") + "garbage line\n");
    store->Refresh();
    EXPECT_TRUE(store->Authenticate(kOldKey).has_value());
    EXPECT_FALSE(store->Authenticate(kNewKey).has_value());
    EXPECT_EQ(store->size(), 1u);

    // Once fixed, the new file is picked up.
    WriteKeys(KeyLine("key_new", kNewKey, "*"));
    store->Refresh();
    EXPECT_FALSE(store->Authenticate(kOldKey).has_value());
    EXPECT_TRUE(store->Authenticate(kNewKey).has_value());
}

TEST_F(AuthTest, RemovedSecretKeepsOldKeys) {
    auto store = Store();
    fs::remove(dir_ / "api-keys");
    store->Refresh();
    EXPECT_TRUE(store->Authenticate(kOldKey).has_value());
}

TEST_F(AuthTest, UnchangedFileRefreshKeepsKeys) {
    auto store = Store();
    store->Refresh();
    store->Refresh();
    EXPECT_TRUE(store->Authenticate(kOldKey).has_value());
    EXPECT_EQ(store->size(), 1u);
}

TEST_F(AuthTest, AuthenticateRefreshesOnceIntervalHasPassed) {
    // A zero interval: every Authenticate call is past the refresh time.
    ApiKeyStore store(secrets_, logger_, std::chrono::milliseconds(0));
    ASSERT_TRUE(store.Authenticate(kOldKey).has_value());
    WriteKeys(KeyLine("key_new", kNewKey, "*"));
    EXPECT_TRUE(store.Authenticate(kNewKey).has_value());
    EXPECT_FALSE(store.Authenticate(kOldKey).has_value());
}

TEST_F(AuthTest, AuthenticateDoesNotRefreshBeforeInterval) {
    auto store = Store();
    WriteKeys(KeyLine("key_new", kNewKey, "*"));
    EXPECT_TRUE(store->Authenticate(kOldKey).has_value());
    EXPECT_FALSE(store->Authenticate(kNewKey).has_value());
}

}  // namespace
}  // namespace middleware
