#include "bench/options.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace bench {
namespace {

using namespace std::chrono_literals;

commons::Result<HttpCommand, UsageError> Parse(std::vector<std::string_view> args) {
    return ParseHttpCommand(args);
}

std::string ErrorOf(std::vector<std::string_view> args) {
    auto parsed = Parse(std::move(args));
    return parsed.ok() ? "<parsed>" : parsed.error().message;
}

TEST(ParseDuration, AcceptsUnits) {
    EXPECT_EQ(ParseDuration("250ms"), std::chrono::nanoseconds(250ms));
    EXPECT_EQ(ParseDuration("10s"), std::chrono::nanoseconds(10s));
    EXPECT_EQ(ParseDuration("1.5s"), std::chrono::nanoseconds(1500ms));
    EXPECT_EQ(ParseDuration("2m"), std::chrono::nanoseconds(2min));
    EXPECT_EQ(ParseDuration("1h"), std::chrono::nanoseconds(1h));
    EXPECT_EQ(ParseDuration("0s"), std::chrono::nanoseconds(0));
}

TEST(ParseDuration, RejectsMissingUnitsAndJunk) {
    for (std::string_view bad :
         {"10", "s", "-1s", "+1s", "1 s", "1sec", "abc", "1e30h", "nans", "infs", ""}) {
        EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
    }
}

TEST(FormatDuration, UsesTheLargestExactUnit) {
    EXPECT_EQ(FormatDuration(0s), "0s");
    EXPECT_EQ(FormatDuration(250ms), "250ms");
    EXPECT_EQ(FormatDuration(1500ms), "1500ms");
    EXPECT_EQ(FormatDuration(10s), "10s");
    EXPECT_EQ(FormatDuration(2min), "2m");
    EXPECT_EQ(FormatDuration(1h), "1h");
    EXPECT_EQ(FormatDuration(500us), "500us");
}

TEST(ParseHttpCommand, ParsesTheFullCommandLine) {
    auto parsed = Parse({"--url",
                         "http://127.0.0.1:8081/v1/x",
                         "--method",
                         "PUT",
                         "--header",
                         "Authorization: Bearer X",
                         "--header=X-Trace: 1",
                         "--body",
                         R"({"id":"{{unique}}"})",
                         "--concurrency",
                         "64",
                         "--duration",
                         "10s",
                         "--rate=5000",
                         "--warmup",
                         "2s",
                         "--timeout",
                         "750ms",
                         "--json",
                         "--label",
                         "smoke",
                         "--seed",
                         "99",
                         "--threads",
                         "2"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    const HttpCommand& command = parsed.value();
    EXPECT_FALSE(command.help);
    EXPECT_EQ(command.url, "http://127.0.0.1:8081/v1/x");
    EXPECT_EQ(command.method, "PUT");
    EXPECT_EQ(command.headers, (std::vector<std::string>{"Authorization: Bearer X", "X-Trace: 1"}));
    EXPECT_EQ(command.body, R"({"id":"{{unique}}"})");
    const LoadSettings& load = command.common.load;
    EXPECT_EQ(load.connections, 64u);
    EXPECT_EQ(load.duration, 10s);
    EXPECT_EQ(load.rate_per_second, 5000.0);
    EXPECT_EQ(load.warmup, 2s);
    EXPECT_EQ(load.request_timeout, 750ms);
    EXPECT_EQ(load.threads, 2u);
    EXPECT_EQ(command.common.format, OutputFormat::kJson);
    EXPECT_EQ(command.common.label, "smoke");
    EXPECT_EQ(command.common.seed, 99u);
}

TEST(ParseHttpCommand, HasSensibleDefaults) {
    auto parsed = Parse({"--url", "http://h/"});
    ASSERT_TRUE(parsed.ok());
    const HttpCommand& command = parsed.value();
    EXPECT_EQ(command.method, "GET");
    EXPECT_EQ(command.common.load.connections, 16u);
    EXPECT_EQ(command.common.load.duration, 10s);
    EXPECT_EQ(command.common.load.warmup, 1s);
    EXPECT_EQ(command.common.load.request_timeout, 5s);
    EXPECT_FALSE(command.common.load.rate_per_second.has_value());
    EXPECT_EQ(command.common.load.threads, 1u);
    EXPECT_EQ(command.common.format, OutputFormat::kText);
    EXPECT_FALSE(command.common.seed.has_value());
}

TEST(ParseHttpCommand, ABodyMakesTheDefaultMethodPost) {
    EXPECT_EQ(Parse({"--url", "http://h/", "--body", "{}"}).value().method, "POST");
    EXPECT_EQ(Parse({"--url", "http://h/", "--body-file", "x.json"}).value().method, "POST");
    EXPECT_EQ(Parse({"--body", "{}", "--method", "PATCH", "--url", "http://h/"}).value().method,
              "PATCH");
}

TEST(ParseHttpCommand, HelpSkipsValidation) {
    auto parsed = Parse({"--help"});
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed.value().help);
}

TEST(ParseHttpCommand, AcceptsTheLimitsThemselves) {
    auto parsed =
        Parse({"--url", "http://h/", "--concurrency", "10000", "--duration", "1h", "--warmup", "0s",
               "--rate", "1000000", "--timeout", "5m", "--threads", "64"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(Parse({"--url", "http://h/", "--concurrency", "1", "--rate", "0.01"})
                  .value()
                  .common.load.connections,
              1u);
}

TEST(ParseHttpCommand, RejectsValuesOutOfRange) {
    struct Case {
        std::vector<std::string_view> args;
        std::string_view message_part;
    };
    const std::vector<Case> cases = {
        {{"--concurrency", "0"}, "--concurrency 0: expected a whole number from 1 to 10000"},
        {{"--concurrency", "10001"}, "from 1 to 10000"},
        {{"--concurrency", "-5"}, "whole number"},
        {{"--concurrency", "4x"}, "whole number"},
        {{"--duration", "2h"}, "--duration 2h: expected a duration from 100ms to 1h"},
        {{"--duration", "10"}, "expected a duration"},
        {{"--duration", "50ms"}, "from 100ms"},
        {{"--warmup", "11m"}, "from 0s to 10m"},
        {{"--timeout", "0s"}, "from 1ms to 5m"},
        {{"--rate", "0"}, "requests per second"},
        {{"--rate", "2000000"}, "requests per second"},
        {{"--rate", "nan"}, "requests per second"},
        {{"--threads", "65"}, "from 1 to 64"},
        {{"--seed", "-1"}, "unsigned 64-bit"},
        {{"--json=yes"}, "--json takes no value"},
        {{"--duration"}, "--duration needs a value"},
    };
    for (const Case& bad : cases) {
        std::vector<std::string_view> args = {"--url", "http://h/"};
        args.insert(args.end(), bad.args.begin(), bad.args.end());
        std::string error = ErrorOf(args);
        EXPECT_NE(error.find(bad.message_part), std::string::npos)
            << bad.args.front() << " -> " << error;
    }
}

TEST(ParseHttpCommand, RejectsUnknownAndMalformedArguments) {
    EXPECT_EQ(ErrorOf({"--url", "http://h/", "--bogus", "1"}),
              "unknown flag --bogus for `bench http`; see bench http --help");
    EXPECT_NE(ErrorOf({"--url", "http://h/", "stray"}).find("unexpected argument \"stray\""),
              std::string::npos);
    EXPECT_NE(ErrorOf({"--"}).find("unexpected argument"), std::string::npos);
    EXPECT_NE(ErrorOf({"--concurrency", "4"}).find("--url is required"), std::string::npos);
    EXPECT_NE(ErrorOf({"--url", "http://h/", "--body", "x", "--body-file", "f"})
                  .find("either --body or --body-file"),
              std::string::npos);
}

TEST(ParseHttpCommand, LimitsHeaderCount) {
    std::vector<std::string_view> args = {"--url", "http://h/"};
    for (std::size_t i = 0; i <= kHeadersMax; ++i) {
        args.push_back("--header");
        args.push_back("X-A: 1");
    }
    EXPECT_NE(ErrorOf(args).find("at most 64 --header flags"), std::string::npos);
}

TEST(ParseCommonFlag, LeavesScenarioFlagsToTheScenario) {
    std::vector<std::string_view> args = {"--pipeline-thing", "3"};
    ArgReader reader(args);
    auto flag = reader.NextFlag();
    ASSERT_TRUE(flag.ok());
    CommonOptions options;
    auto handled = ParseCommonFlag(flag.value(), reader, options);
    ASSERT_TRUE(handled.ok());
    EXPECT_FALSE(handled.value());
    auto value = reader.Value();
    ASSERT_TRUE(value.ok());
    EXPECT_EQ(value.value(), "3");
    EXPECT_TRUE(reader.done());
}

}  // namespace
}  // namespace bench
