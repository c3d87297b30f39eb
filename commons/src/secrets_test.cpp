#include "commons/secrets.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "commons/config.hpp"
#include "commons/ids.hpp"
#include "support/temp_dir.hpp"

namespace commons {
namespace {

using Vars = std::map<std::string, std::string, std::less<>>;

namespace fs = std::filesystem;

struct TempDir : test_support::TempDir {
    TempDir() : test_support::TempDir("secrets-test") {}
};
using testing::HasSubstr;

TEST(Secret, StreamsAsStars) {
    Secret secret("hunter2");
    std::ostringstream out;
    out << secret;
    EXPECT_EQ(out.str(), "***");
    EXPECT_EQ(Secret::Redacted(), "***");
}

TEST(Secret, StreamsEmptySecretAsStarsToo) {
    std::ostringstream out;
    out << "password=" << Secret("") << ";";
    EXPECT_EQ(out.str(), "password=***;");
}

TEST(Secret, RevealsValue) {
    Secret secret("hunter2");
    EXPECT_EQ(secret.Reveal(), "hunter2");
    EXPECT_FALSE(secret.empty());
    EXPECT_TRUE(Secret("").empty());
}

TEST(SecretStoreEnvironmentName, UpperCasesAndMapsSeparators) {
    EXPECT_EQ(SecretStore::EnvironmentName("api-keys"), "PAYMENTS_API_KEYS");
    EXPECT_EQ(SecretStore::EnvironmentName("db-password"), "PAYMENTS_DB_PASSWORD");
    EXPECT_EQ(SecretStore::EnvironmentName("webhook.signing-key2"),
              "PAYMENTS_WEBHOOK_SIGNING_KEY2");
    EXPECT_EQ(SecretStore::EnvironmentName("ALREADY_UPPER"), "PAYMENTS_ALREADY_UPPER");
}

TEST(SecretStore, ReadsFileFromDirectory) {
    TempDir dir;
    dir.Write("api-keys", "from-file");
    MapEnvironment env;
    SecretStore store(dir.path(), env);
    auto secret = store.Find("api-keys");
    ASSERT_TRUE(secret.has_value());
    EXPECT_EQ(secret->Reveal(), "from-file");
    EXPECT_EQ(store.dir(), dir.path());
}

TEST(SecretStore, FileBeatsEnvironment) {
    TempDir dir;
    dir.Write("api-keys", "from-file");
    MapEnvironment env(Vars{{"PAYMENTS_API_KEYS", "from-env"}});
    SecretStore store(dir.path(), env);
    ASSERT_TRUE(store.Find("api-keys").has_value());
    EXPECT_EQ(store.Find("api-keys")->Reveal(), "from-file");
}

TEST(SecretStore, FallsBackToEnvironmentWhenNoFile) {
    TempDir dir;
    MapEnvironment env(Vars{{"PAYMENTS_API_KEYS", "from-env"}});
    SecretStore store(dir.path(), env);
    auto secret = store.Find("api-keys");
    ASSERT_TRUE(secret.has_value());
    EXPECT_EQ(secret->Reveal(), "from-env");
}

TEST(SecretStore, UsesEnvironmentWhenNoDirectory) {
    MapEnvironment env(Vars{{"PAYMENTS_DB_PASSWORD", "from-env"}});
    SecretStore store(std::nullopt, env);
    auto secret = store.Find("db-password");
    ASSERT_TRUE(secret.has_value());
    EXPECT_EQ(secret->Reveal(), "from-env");
    EXPECT_EQ(store.dir(), std::nullopt);
}

TEST(SecretStore, UsesEnvironmentWhenDirectoryDoesNotExist) {
    MapEnvironment env(Vars{{"PAYMENTS_API_KEYS", "from-env"}});
    SecretStore store(fs::temp_directory_path() / ("payments-absent-" + RandomHex(8)), env);
    ASSERT_TRUE(store.Find("api-keys").has_value());
    EXPECT_EQ(store.Find("api-keys")->Reveal(), "from-env");
}

TEST(SecretStore, FindReturnsNulloptWhenNeitherExists) {
    TempDir dir;
    MapEnvironment env;
    SecretStore store(dir.path(), env);
    EXPECT_FALSE(store.Find("api-keys").has_value());
}

TEST(SecretStore, TrimsOneTrailingNewline) {
    TempDir dir;
    dir.Write("lf", "value\n");
    dir.Write("crlf", "value\r\n");
    dir.Write("two", "value\n\n");
    dir.Write("inner", "line1\nline2\n");
    dir.Write("none", "value");
    MapEnvironment env;
    SecretStore store(dir.path(), env);
    EXPECT_EQ(store.Find("lf")->Reveal(), "value");
    EXPECT_EQ(store.Find("crlf")->Reveal(), "value");
    EXPECT_EQ(store.Find("two")->Reveal(), "value\n");
    EXPECT_EQ(store.Find("inner")->Reveal(), "line1\nline2");
    EXPECT_EQ(store.Find("none")->Reveal(), "value");
}

TEST(SecretStore, KeepsLeadingAndInnerWhitespace) {
    TempDir dir;
    dir.Write("spaced", "  a b \t");
    MapEnvironment env;
    SecretStore store(dir.path(), env);
    EXPECT_EQ(store.Find("spaced")->Reveal(), "  a b \t");
}

TEST(SecretStore, EmptyFileIsAnEmptySecretNotAMissingOne) {
    TempDir dir;
    dir.Write("api-keys", "");
    MapEnvironment env(Vars{{"PAYMENTS_API_KEYS", "from-env"}});
    SecretStore store(dir.path(), env);
    auto secret = store.Find("api-keys");
    ASSERT_TRUE(secret.has_value());
    EXPECT_TRUE(secret->empty());
}

TEST(SecretStore, SeesRotatedFileWithoutRestart) {
    TempDir dir;
    dir.Write("api-keys", "old");
    MapEnvironment env;
    SecretStore store(dir.path(), env);
    EXPECT_EQ(store.Find("api-keys")->Reveal(), "old");
    dir.Write("api-keys", "new\n");
    EXPECT_EQ(store.Find("api-keys")->Reveal(), "new");
}

TEST(SecretStore, FollowsSymlinkLikeKubernetesMounts) {
    TempDir dir;
    fs::create_directories(dir.path() / "..data");
    dir.Write("..data/api-keys", "linked\n");
    fs::create_symlink("..data/api-keys", dir.path() / "api-keys");
    MapEnvironment env;
    SecretStore store(dir.path(), env);
    EXPECT_EQ(store.Find("api-keys")->Reveal(), "linked");
}

TEST(SecretStore, ThrowsWhenFileExistsButCannotBeRead) {
    TempDir dir;
    // A directory where the file should be: it exists but has no readable content. (Permission
    // bits would not stop a test running as root.)
    fs::create_directories(dir.path() / "api-keys");
    MapEnvironment env(Vars{{"PAYMENTS_API_KEYS", "from-env"}});
    SecretStore store(dir.path(), env);
    EXPECT_THROW(store.Find("api-keys"), ConfigError);
}

TEST(SecretStore, OwnsTheEnvironmentItWasGiven) {
    // The environment object given to the constructor is gone before the first read (as a
    // temporary passed by the service host is); the store still reads the same values.
    std::optional<SecretStore> store;
    {
        MapEnvironment env(Vars{{"PAYMENTS_STRIPE_WEBHOOK_SECRETS", "whsec_from_env"}});
        store.emplace(std::nullopt, env);
        env.Set("PAYMENTS_STRIPE_WEBHOOK_SECRETS", "overwritten");
    }
    auto secret = store->Find("stripe-webhook-secrets");
    ASSERT_TRUE(secret.has_value());
    EXPECT_EQ(secret->Reveal(), "whsec_from_env");
}

TEST(SecretStore, ReadsTheProcessEnvironmentThroughATemporary) {
    const std::string name = "payments-test-" + RandomHex(6);
    const std::string variable = SecretStore::EnvironmentName(name);
    ASSERT_EQ(::setenv(variable.c_str(), "from-process", 1), 0);
    SecretStore store(std::nullopt, ProcessEnvironment{});
    auto secret = store.Find(name);
    ::unsetenv(variable.c_str());
    ASSERT_TRUE(secret.has_value());
    EXPECT_EQ(secret->Reveal(), "from-process");
}

TEST(SecretStoreRequired, ReturnsFoundSecret) {
    TempDir dir;
    dir.Write("api-keys", "from-file\n");
    MapEnvironment env;
    SecretStore store(dir.path(), env);
    EXPECT_EQ(store.Required("api-keys").Reveal(), "from-file");
}

TEST(SecretStoreRequired, ThrowsNamingVariableAndFile) {
    TempDir dir;
    MapEnvironment env;
    SecretStore store(dir.path(), env);
    try {
        store.Required("api-keys");
        FAIL() << "no ConfigError thrown";
    } catch (const ConfigError& error) {
        EXPECT_EQ(error.variable(), "PAYMENTS_API_KEYS");
        EXPECT_THAT(error.what(), HasSubstr("PAYMENTS_API_KEYS"));
        EXPECT_THAT(error.what(), HasSubstr("\"api-keys\""));
        EXPECT_THAT(error.what(), HasSubstr((dir.path() / "api-keys").string()));
    }
}

TEST(SecretStoreRequired, ThrowsWithoutDirectory) {
    MapEnvironment env;
    SecretStore store(std::nullopt, env);
    try {
        store.Required("db-password");
        FAIL() << "no ConfigError thrown";
    } catch (const ConfigError& error) {
        EXPECT_EQ(error.variable(), "PAYMENTS_DB_PASSWORD");
        EXPECT_EQ(std::string(error.what()),
                  "PAYMENTS_DB_PASSWORD: secret \"db-password\" is missing (variable not set)");
    }
}

}  // namespace
}  // namespace commons
