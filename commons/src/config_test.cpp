#include "commons/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>

namespace commons {
namespace {

using Vars = std::map<std::string, std::string, std::less<>>;

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::HasSubstr;

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

// The what() of the ConfigError `call` throws, after checking it names `variable`.
template <typename Call>
std::string ConfigErrorMessage(Call call, const std::string& variable) {
    try {
        call();
    } catch (const ConfigError& error) {
        EXPECT_EQ(error.variable(), variable);
        return error.what();
    }
    ADD_FAILURE() << "no ConfigError thrown";
    return "";
}

TEST(MapEnvironment, ReturnsSetValuesAndNulloptOtherwise) {
    MapEnvironment env(Vars{{"A", "1"}});
    env.Set("B", "");
    EXPECT_EQ(env.Get("A"), "1");
    EXPECT_EQ(env.Get("B"), "");
    EXPECT_EQ(env.Get("C"), std::nullopt);
    env.Set("A", "2");
    EXPECT_EQ(env.Get("A"), "2");
}

TEST(ProcessEnvironment, ReadsTheProcessEnvironment) {
    ::setenv("PAYMENTS_CONFIG_TEST_VALUE", "from-process", 1);
    ::unsetenv("PAYMENTS_CONFIG_TEST_UNSET");
    ProcessEnvironment env;
    EXPECT_EQ(env.Get("PAYMENTS_CONFIG_TEST_VALUE"), "from-process");
    EXPECT_EQ(env.Get("PAYMENTS_CONFIG_TEST_UNSET"), std::nullopt);
    ::unsetenv("PAYMENTS_CONFIG_TEST_VALUE");
}

TEST(ConfigError, WhatIsVariableColonProblem) {
    ConfigError error("PAYMENTS_X", "is broken");
    EXPECT_STREQ(error.what(), "PAYMENTS_X: is broken");
    EXPECT_EQ(error.variable(), "PAYMENTS_X");
}

// ---- Find / RequiredString / String ----

TEST(EnvReaderFind, TreatsEmptyAsUnset) {
    MapEnvironment env(Vars{{"PAYMENTS_SET", "value"}, {"PAYMENTS_EMPTY", ""}});
    EnvReader reader(env);
    EXPECT_EQ(reader.Find("PAYMENTS_SET"), "value");
    EXPECT_EQ(reader.Find("PAYMENTS_EMPTY"), std::nullopt);
    EXPECT_EQ(reader.Find("PAYMENTS_MISSING"), std::nullopt);
}

TEST(EnvReaderRequiredString, ReturnsSetValue) {
    MapEnvironment env(Vars{{"PAYMENTS_X", " spaced value "}});
    EXPECT_EQ(EnvReader(env).RequiredString("PAYMENTS_X"), " spaced value ");
}

TEST(EnvReaderRequiredString, ThrowsNamingMissingVariable) {
    MapEnvironment env;
    EnvReader reader(env);
    EXPECT_EQ(ConfigErrorMessage([&] { reader.RequiredString("PAYMENTS_X"); }, "PAYMENTS_X"),
              "PAYMENTS_X: is required but not set");
}

TEST(EnvReaderRequiredString, ThrowsForEmptyValue) {
    MapEnvironment env(Vars{{"PAYMENTS_X", ""}});
    EnvReader reader(env);
    EXPECT_EQ(ConfigErrorMessage([&] { reader.RequiredString("PAYMENTS_X"); }, "PAYMENTS_X"),
              "PAYMENTS_X: is required but not set");
}

TEST(EnvReaderString, ReturnsValueOrFallback) {
    MapEnvironment env(Vars{{"PAYMENTS_SET", "value"}, {"PAYMENTS_EMPTY", ""}});
    EnvReader reader(env);
    EXPECT_EQ(reader.String("PAYMENTS_SET", "fallback"), "value");
    EXPECT_EQ(reader.String("PAYMENTS_EMPTY", "fallback"), "fallback");
    EXPECT_EQ(reader.String("PAYMENTS_MISSING", "fallback"), "fallback");
    EXPECT_EQ(reader.String("PAYMENTS_MISSING", ""), "");
}

// ---- Int ----

TEST(EnvReaderInt, ParsesValueInRange) {
    MapEnvironment env(Vars{{"PAYMENTS_X", "7"}, {"PAYMENTS_NEG", "-3"}});
    EnvReader reader(env);
    EXPECT_EQ(reader.Int("PAYMENTS_X", 5, 1, 10), 7);
    EXPECT_EQ(reader.Int("PAYMENTS_NEG", 0, -5, 5), -3);
}

TEST(EnvReaderInt, AcceptsBoundsInclusive) {
    MapEnvironment env(Vars{{"PAYMENTS_LOW", "1"}, {"PAYMENTS_HIGH", "10"}});
    EnvReader reader(env);
    EXPECT_EQ(reader.Int("PAYMENTS_LOW", 5, 1, 10), 1);
    EXPECT_EQ(reader.Int("PAYMENTS_HIGH", 5, 1, 10), 10);
}

TEST(EnvReaderInt, ReturnsFallbackWhenUnsetOrEmpty) {
    MapEnvironment env(Vars{{"PAYMENTS_EMPTY", ""}});
    EnvReader reader(env);
    EXPECT_EQ(reader.Int("PAYMENTS_MISSING", 5, 1, 10), 5);
    EXPECT_EQ(reader.Int("PAYMENTS_EMPTY", 5, 1, 10), 5);
}

TEST(EnvReaderInt, RejectsNonIntegerNamingVariable) {
    MapEnvironment env(Vars{{"PAYMENTS_X", "abc"}});
    EnvReader reader(env);
    EXPECT_EQ(ConfigErrorMessage([&] { reader.Int("PAYMENTS_X", 5, 1, 10); }, "PAYMENTS_X"),
              "PAYMENTS_X: expected an integer from 1 to 10, got \"abc\"");
}

TEST(EnvReaderInt, RejectsBelowMinimumAndAboveMaximum) {
    MapEnvironment env(Vars{{"PAYMENTS_LOW", "0"}, {"PAYMENTS_HIGH", "11"}});
    EnvReader reader(env);
    EXPECT_EQ(ConfigErrorMessage([&] { reader.Int("PAYMENTS_LOW", 5, 1, 10); }, "PAYMENTS_LOW"),
              "PAYMENTS_LOW: expected an integer from 1 to 10, got \"0\"");
    EXPECT_EQ(ConfigErrorMessage([&] { reader.Int("PAYMENTS_HIGH", 5, 1, 10); }, "PAYMENTS_HIGH"),
              "PAYMENTS_HIGH: expected an integer from 1 to 10, got \"11\"");
}

TEST(EnvReaderInt, RejectsTrailingGarbageSignsAndSpaces) {
    for (const char* text : {"5 ", " 5", "5x", "+5", "5.0", "0x5", "1e1", "--5", "-"}) {
        MapEnvironment env(Vars{{"PAYMENTS_X", text}});
        EnvReader reader(env);
        EXPECT_THROW(reader.Int("PAYMENTS_X", 5, -10, 10), ConfigError) << '"' << text << '"';
    }
}

TEST(EnvReaderInt, ParsesInt64Extremes) {
    MapEnvironment env(
        {{"PAYMENTS_MAX", "9223372036854775807"}, {"PAYMENTS_MIN", "-9223372036854775808"}});
    EnvReader reader(env);
    EXPECT_EQ(reader.Int("PAYMENTS_MAX", 0, kMin, kMax), kMax);
    EXPECT_EQ(reader.Int("PAYMENTS_MIN", 0, kMin, kMax), kMin);
}

TEST(EnvReaderInt, RejectsInt64Overflow) {
    MapEnvironment env(
        {{"PAYMENTS_X", "9223372036854775808"}, {"PAYMENTS_Y", "-9223372036854775809"}});
    EnvReader reader(env);
    EXPECT_THROW(reader.Int("PAYMENTS_X", 0, kMin, kMax), ConfigError);
    EXPECT_THROW(reader.Int("PAYMENTS_Y", 0, kMin, kMax), ConfigError);
}

TEST(EnvReaderInt, ShortensLongValueInMessage) {
    std::string long_value(100, '9');
    MapEnvironment env(Vars{{"PAYMENTS_X", long_value}});
    EnvReader reader(env);
    std::string message =
        ConfigErrorMessage([&] { reader.Int("PAYMENTS_X", 5, 1, 10); }, "PAYMENTS_X");
    EXPECT_EQ(message, "PAYMENTS_X: expected an integer from 1 to 10, got \"" +
                           std::string(64, '9') + "...\"");
}

// ---- Port ----

TEST(EnvReaderPort, ParsesPortRange) {
    MapEnvironment env(
        {{"PAYMENTS_PORT", "8080"}, {"PAYMENTS_ZERO", "0"}, {"PAYMENTS_TOP", "65535"}});
    EnvReader reader(env);
    EXPECT_EQ(reader.Port("PAYMENTS_PORT", 1), 8080);
    EXPECT_EQ(reader.Port("PAYMENTS_ZERO", 1), 0);
    EXPECT_EQ(reader.Port("PAYMENTS_TOP", 1), 65535);
    EXPECT_EQ(reader.Port("PAYMENTS_MISSING", 9090), 9090);
}

TEST(EnvReaderPort, RejectsOutOfRangeNamingVariable) {
    MapEnvironment env(
        {{"PAYMENTS_PORT", "65536"}, {"PAYMENTS_NEG", "-1"}, {"PAYMENTS_TEXT", "http"}});
    EnvReader reader(env);
    EXPECT_EQ(ConfigErrorMessage([&] { reader.Port("PAYMENTS_PORT", 1); }, "PAYMENTS_PORT"),
              "PAYMENTS_PORT: expected an integer from 0 to 65535, got \"65536\"");
    EXPECT_THROW(reader.Port("PAYMENTS_NEG", 1), ConfigError);
    EXPECT_THROW(reader.Port("PAYMENTS_TEXT", 1), ConfigError);
}

// ---- Bool ----

TEST(EnvReaderBool, ParsesOneZeroTrueFalse) {
    MapEnvironment env(Vars{{"PAYMENTS_ONE", "1"},
                            {"PAYMENTS_ZERO", "0"},
                            {"PAYMENTS_TRUE", "true"},
                            {"PAYMENTS_FALSE", "false"}});
    EnvReader reader(env);
    EXPECT_TRUE(reader.Bool("PAYMENTS_ONE", false));
    EXPECT_FALSE(reader.Bool("PAYMENTS_ZERO", true));
    EXPECT_TRUE(reader.Bool("PAYMENTS_TRUE", false));
    EXPECT_FALSE(reader.Bool("PAYMENTS_FALSE", true));
}

TEST(EnvReaderBool, ReturnsFallbackWhenUnsetOrEmpty) {
    MapEnvironment env(Vars{{"PAYMENTS_EMPTY", ""}});
    EnvReader reader(env);
    EXPECT_TRUE(reader.Bool("PAYMENTS_MISSING", true));
    EXPECT_FALSE(reader.Bool("PAYMENTS_MISSING", false));
    EXPECT_TRUE(reader.Bool("PAYMENTS_EMPTY", true));
}

TEST(EnvReaderBool, RejectsOtherSpellingsNamingVariable) {
    MapEnvironment env(Vars{{"PAYMENTS_X", "yes"}});
    EnvReader reader(env);
    EXPECT_EQ(ConfigErrorMessage([&] { reader.Bool("PAYMENTS_X", false); }, "PAYMENTS_X"),
              "PAYMENTS_X: expected one of 1, 0, true, false, got \"yes\"");
    for (const char* text : {"TRUE", "False", "on", "2", " 1", "true "}) {
        MapEnvironment other(Vars{{"PAYMENTS_Y", text}});
        EXPECT_THROW(EnvReader(other).Bool("PAYMENTS_Y", false), ConfigError) << text;
    }
}

// ---- Duration ----

TEST(EnvReaderDuration, ParsesValueInRange) {
    MapEnvironment env(Vars{{"PAYMENTS_TIMEOUT", "250ms"}, {"PAYMENTS_INTERVAL", "2m"}});
    EnvReader reader(env);
    EXPECT_EQ(reader.Duration("PAYMENTS_TIMEOUT", seconds(1), milliseconds(1), minutes(1)),
              milliseconds(250));
    EXPECT_EQ(reader.Duration("PAYMENTS_INTERVAL", seconds(1), seconds(1), hours(1)), minutes(2));
}

TEST(EnvReaderDuration, AcceptsBoundsInclusive) {
    MapEnvironment env(Vars{{"PAYMENTS_LOW", "1s"}, {"PAYMENTS_HIGH", "1m"}});
    EnvReader reader(env);
    EXPECT_EQ(reader.Duration("PAYMENTS_LOW", seconds(5), seconds(1), minutes(1)), seconds(1));
    EXPECT_EQ(reader.Duration("PAYMENTS_HIGH", seconds(5), seconds(1), minutes(1)), minutes(1));
}

TEST(EnvReaderDuration, ReturnsFallbackWhenUnsetOrEmpty) {
    MapEnvironment env(Vars{{"PAYMENTS_EMPTY", ""}});
    EnvReader reader(env);
    EXPECT_EQ(reader.Duration("PAYMENTS_MISSING", seconds(5), seconds(1), minutes(1)), seconds(5));
    EXPECT_EQ(reader.Duration("PAYMENTS_EMPTY", seconds(5), seconds(1), minutes(1)), seconds(5));
}

TEST(EnvReaderDuration, RejectsMalformedNamingVariable) {
    MapEnvironment env(Vars{{"PAYMENTS_TIMEOUT", "5"}});
    EnvReader reader(env);
    EXPECT_EQ(
        ConfigErrorMessage(
            [&] { reader.Duration("PAYMENTS_TIMEOUT", seconds(5), seconds(1), minutes(1)); },
            "PAYMENTS_TIMEOUT"),
        "PAYMENTS_TIMEOUT: expected a duration such as 250ms, 5s, 2m or 1h from 1000ms to 60000ms, "
        "got \"5\"");
}

TEST(EnvReaderDuration, RejectsOutOfRange) {
    MapEnvironment env(Vars{{"PAYMENTS_LOW", "999ms"}, {"PAYMENTS_HIGH", "61s"}});
    EnvReader reader(env);
    EXPECT_THROW(reader.Duration("PAYMENTS_LOW", seconds(5), seconds(1), minutes(1)), ConfigError);
    EXPECT_THROW(reader.Duration("PAYMENTS_HIGH", seconds(5), seconds(1), minutes(1)), ConfigError);
}

// ---- ParseDuration ----

TEST(ParseDuration, ParsesEveryUnit) {
    EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
    EXPECT_EQ(ParseDuration("5s"), seconds(5));
    EXPECT_EQ(ParseDuration("2m"), minutes(2));
    EXPECT_EQ(ParseDuration("1h"), hours(1));
}

TEST(ParseDuration, ParsesZeroAndLeadingZeros) {
    EXPECT_EQ(ParseDuration("0ms"), milliseconds(0));
    EXPECT_EQ(ParseDuration("0h"), milliseconds(0));
    EXPECT_EQ(ParseDuration("007s"), seconds(7));
}

TEST(ParseDuration, RejectsMissingNumberOrUnit) {
    EXPECT_EQ(ParseDuration(""), std::nullopt);
    EXPECT_EQ(ParseDuration("ms"), std::nullopt);
    EXPECT_EQ(ParseDuration("s"), std::nullopt);
    EXPECT_EQ(ParseDuration("5"), std::nullopt);
}

TEST(ParseDuration, RejectsUnknownUnitsSignsAndSpaces) {
    for (const char* text : {"5S", "5Ms", "5sec", "5d", "5us", "5 s", " 5s", "5s ", "-5s", "+5s",
                             "1.5s", "5ms5", "1h30m", "5mss"}) {
        EXPECT_EQ(ParseDuration(text), std::nullopt) << '"' << text << '"';
    }
}

TEST(ParseDuration, ParsesLargestValuesThatFit) {
    EXPECT_EQ(ParseDuration("9223372036854775807ms"), milliseconds(kMax));
    // 2562047788015 h is the most hours that fit in int64 milliseconds.
    EXPECT_EQ(ParseDuration("2562047788015h"), hours(2562047788015));
}

TEST(ParseDuration, RejectsOverflow) {
    EXPECT_EQ(ParseDuration("9223372036854775808ms"), std::nullopt);
    EXPECT_EQ(ParseDuration("9223372036854775807s"), std::nullopt);
    EXPECT_EQ(ParseDuration("2562047788016h"), std::nullopt);
    EXPECT_EQ(ParseDuration("153722867280913m"), std::nullopt);
    EXPECT_EQ(ParseDuration("99999999999999999999999ms"), std::nullopt);
}

// ---- RedactUrl ----

TEST(RedactUrl, ReplacesPassword) {
    EXPECT_EQ(RedactUrl("postgres://payments:s3cret@db:5432/payments"),
              "postgres://payments:***@db:5432/payments");
    EXPECT_EQ(RedactUrl("redis://:s3cret@cache:6379/0"), "redis://:***@cache:6379/0");
    EXPECT_EQ(RedactUrl("postgres://u:p@db"), "postgres://u:***@db");
    EXPECT_EQ(RedactUrl("postgres://u:@db/x"), "postgres://u:***@db/x");
}

TEST(RedactUrl, KeepsUrlWithoutPassword) {
    EXPECT_EQ(RedactUrl("postgres://payments@db:5432/payments"),
              "postgres://payments@db:5432/payments");
    EXPECT_EQ(RedactUrl("postgres://db:5432/payments"), "postgres://db:5432/payments");
    EXPECT_EQ(RedactUrl("redis://cache"), "redis://cache");
    EXPECT_EQ(RedactUrl(""), "");
}

TEST(RedactUrl, IgnoresAtSignAfterTheAuthority) {
    EXPECT_EQ(RedactUrl("http://host:80/path@x"), "http://host:80/path@x");
    EXPECT_EQ(RedactUrl("http://host/a:b@c"), "http://host/a:b@c");
}

TEST(RedactUrl, KeepsTextWithoutScheme) {
    EXPECT_EQ(RedactUrl("not a url"), "not a url");
    EXPECT_EQ(RedactUrl("db:5432"), "db:5432");
}

TEST(RedactUrl, HidesPercentEncodedPassword) {
    EXPECT_EQ(RedactUrl("postgres://u:p%40ss%2Fw@db/x"), "postgres://u:***@db/x");
}

// ParseRedisUrl (redis.cpp) splits the authority at its last '@', so a Redis password may hold a
// raw '@'; the redacted form must not show any part of it.
TEST(RedactUrl, HidesWholePasswordContainingAtSign) {
    EXPECT_EQ(RedactUrl("redis://:p@ss@cache:6379/0"), "redis://:***@cache:6379/0");
    EXPECT_EQ(RedactUrl("redis://user:a@b@cache"), "redis://user:***@cache");
}

TEST(RedactUrl, HidesWholePasswordContainingColon) {
    EXPECT_EQ(RedactUrl("postgres://u:pa:ss@db/x"), "postgres://u:***@db/x");
}

}  // namespace
}  // namespace commons
