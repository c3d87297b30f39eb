#include <gtest/gtest.h>

#include "commons/ids.hpp"
#include "commons/redis.hpp"
#include "support/devstack.hpp"

namespace commons {
namespace {

RedisSettings Settings(std::size_t pool_size = 2) {
    RedisSettings settings;
    settings.url = test_support::RedisUrl();
    settings.pool_size = pool_size;
    settings.acquire_timeout = std::chrono::milliseconds(500);
    return settings;
}

class RedisTest : public ::testing::Test {
  protected:
    ~RedisTest() override {
        for (const auto& key : keys_) client_.Command({"DEL", key});
    }
    std::string Key(const std::string& name) {
        keys_.push_back("test:" + RandomHex(8) + ":" + name);
        return keys_.back();
    }

    RedisClient client_{Settings()};
    std::vector<std::string> keys_;
};

TEST_F(RedisTest, PingAnswers) { EXPECT_EQ(client_.Ping(), ""); }

TEST_F(RedisTest, SetAndGetAreBinarySafe) {
    auto key = Key("binary");
    std::string value("a\0b\r\nc", 6);
    EXPECT_EQ(client_.Command({"SET", key, value}).text, "OK");
    auto reply = client_.Command({"GET", key});
    EXPECT_EQ(reply.type, RedisReply::Type::kString);
    EXPECT_EQ(reply.text, value);
}

TEST_F(RedisTest, MissingKeyIsNilAndIntegersAreIntegers) {
    auto key = Key("counter");
    EXPECT_EQ(client_.Command({"GET", key}).type, RedisReply::Type::kNil);
    EXPECT_EQ(client_.Command({"INCRBY", key, "41"}).integer, 41);
    EXPECT_EQ(client_.Command({"INCR", key}).integer, 42);
}

TEST_F(RedisTest, ErrorRepliesAreValuesNotExceptions) {
    auto key = Key("text");
    client_.Command({"SET", key, "not a number"});
    auto reply = client_.Command({"INCR", key});
    EXPECT_TRUE(reply.is_error());
    EXPECT_NE(reply.text.find("not an integer"), std::string::npos);
}

TEST_F(RedisTest, ArraysAreConverted) {
    auto key = Key("list");
    client_.Command({"RPUSH", key, "a", "b", "c"});
    auto reply = client_.Command({"LRANGE", key, "0", "-1"});
    ASSERT_EQ(reply.type, RedisReply::Type::kArray);
    ASSERT_EQ(reply.elements.size(), 3u);
    EXPECT_EQ(reply.elements[2].text, "c");
}

TEST_F(RedisTest, ReconnectsAfterTheServerDropsThePooledConnection) {
    RedisClient victim(Settings(1));
    auto id = victim.Command({"CLIENT", "ID"}).integer;
    EXPECT_EQ(client_.Command({"CLIENT", "KILL", "ID", std::to_string(id)}).integer, 1);
    // A repeatable command is retried once on a fresh connection.
    EXPECT_EQ(victim.Command({"PING"}, RedisRetry::kRetryOnce).text, "PONG");
    EXPECT_NE(victim.Command({"CLIENT", "ID"}).integer, id);

    // A command that must not run twice surfaces the failure; the next call reconnects.
    auto second = victim.Command({"CLIENT", "ID"}).integer;
    client_.Command({"CLIENT", "KILL", "ID", std::to_string(second)});
    EXPECT_THROW(victim.Command({"PING"}, RedisRetry::kNever), RedisUnavailableError);
    EXPECT_EQ(victim.Command({"PING"}).text, "PONG");
}

TEST_F(RedisTest, CommandTimeoutIsEnforced) {
    auto settings = Settings(1);
    settings.command_timeout = std::chrono::milliseconds(100);
    RedisClient slow(settings);
    auto key = Key("never");
    EXPECT_THROW(slow.Command({"BLPOP", key, "30"}), RedisUnavailableError);
    EXPECT_EQ(slow.Ping(), "");
}

TEST(RedisClient, UnreachableServerIsUnavailable) {
    RedisSettings settings;
    settings.url = "redis://127.0.0.1:1/0";
    RedisClient client(settings);
    EXPECT_THROW(client.Command({"PING"}), RedisUnavailableError);
    EXPECT_NE(client.Ping(), "");
}

TEST(ParseRedisUrl, ReadsHostPortPasswordAndDatabase) {
    auto endpoint = ParseRedisUrl("redis://:s3cret@cache.internal:6380/3");
    ASSERT_TRUE(endpoint);
    EXPECT_EQ(endpoint->host, "cache.internal");
    EXPECT_EQ(endpoint->port, 6380);
    EXPECT_EQ(endpoint->password, "s3cret");
    EXPECT_EQ(endpoint->database, 3);
    auto plain = ParseRedisUrl("redis://localhost");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->port, 6379);
    EXPECT_EQ(plain->database, 0);
}

TEST(ParseRedisUrl, RejectsMalformedUrls) {
    EXPECT_FALSE(ParseRedisUrl("http://localhost"));
    EXPECT_FALSE(ParseRedisUrl("redis://"));
    EXPECT_FALSE(ParseRedisUrl("redis://host:99999"));
    EXPECT_FALSE(ParseRedisUrl("redis://host:port"));
    EXPECT_FALSE(ParseRedisUrl("redis://host/db"));
}

}  // namespace
}  // namespace commons
