#include "bench/ledger_options.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace bench {
namespace {

using namespace std::chrono_literals;

commons::Result<LedgerCommand, UsageError> Parse(std::vector<std::string_view> args) {
    return ParseLedgerCommand(args);
}

std::string ErrorOf(std::vector<std::string_view> args) {
    auto parsed = Parse(std::move(args));
    return parsed.ok() ? "<parsed>" : parsed.error().message;
}

TEST(ParseLedgerCommand, ParsesTheFullCommandLine) {
    auto parsed = Parse({"--scenario",
                         "uniform,naive",
                         "--url",
                         "http://127.0.0.1:18091",
                         "--api-key",
                         "sk_k",
                         "--database-url",
                         "postgresql://u@h:1/db",
                         "--naive-schema",
                         "bench_naive_2",
                         "--accounts",
                         "500",
                         "--batch-size",
                         "50",
                         "--concurrency",
                         "64",
                         "--duration",
                         "10s",
                         "--json",
                         "--seed",
                         "7"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    const LedgerCommand& command = parsed.value();
    EXPECT_EQ(command.scenarios,
              (std::vector<LedgerScenario>{LedgerScenario::kUniform, LedgerScenario::kNaive}));
    EXPECT_EQ(command.url, "http://127.0.0.1:18091");
    EXPECT_EQ(command.api_key, "sk_k");
    EXPECT_EQ(command.database_url, "postgresql://u@h:1/db");
    EXPECT_EQ(command.naive_schema, "bench_naive_2");
    EXPECT_EQ(command.accounts, 500u);
    EXPECT_EQ(command.batch_size, 50u);
    EXPECT_EQ(command.common.load.connections, 64u);
    EXPECT_EQ(command.common.load.duration, 10s);
    EXPECT_EQ(command.common.format, OutputFormat::kJson);
    EXPECT_EQ(command.common.seed, 7u);
}

TEST(ParseLedgerCommand, HasSensibleDefaults) {
    auto parsed = Parse({"--scenario", "all"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    const LedgerCommand& command = parsed.value();
    EXPECT_EQ(command.scenarios.size(), 5u);
    EXPECT_EQ(command.url, "http://127.0.0.1:8081");
    EXPECT_FALSE(command.api_key.has_value());
    EXPECT_FALSE(command.database_url.has_value());
    EXPECT_EQ(command.naive_schema, "bench_naive");
    EXPECT_EQ(command.accounts, 10'000u);
    EXPECT_EQ(command.batch_size, 100u);
    EXPECT_EQ(command.cpu_processes,
              (std::vector<std::string>{"ledger-service", "postgres", "redis-server"}));
}

TEST(ParseLedgerCommand, CpuOfTakesProcessNamesOrNone) {
    auto parsed = Parse({"--scenario", "naive", "--cpu-of", "postgres,bench,postgres"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed.value().cpu_processes, (std::vector<std::string>{"postgres", "bench"}));
    parsed = Parse({"--scenario", "naive", "--cpu-of", "none"});
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_TRUE(parsed.value().cpu_processes.empty());
    for (const char* bad : {"", "a,,b", "sixteen-chars-xx", "a/b", "a b", "a,b,c,d,e,f,g,h,i"}) {
        auto refused = Parse({"--scenario", "naive", "--cpu-of", bad});
        ASSERT_FALSE(refused.ok()) << bad;
        EXPECT_NE(refused.error().message.find("--cpu-of"), std::string::npos)
            << refused.error().message;
    }
}

TEST(ParseLedgerCommand, RequiresAScenario) {
    EXPECT_NE(ErrorOf({"--url", "http://h"}).find("--scenario is required"), std::string::npos);
    EXPECT_NE(ErrorOf({"--scenario", "cold"}).find("--scenario: unknown scenario \"cold\""),
              std::string::npos);
}

TEST(ParseLedgerCommand, HelpSkipsValidation) {
    auto parsed = Parse({"--help"});
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed.value().help);
}

TEST(ParseLedgerCommand, NaiveScenariosRunTheClosedModelWithBoundedConnections) {
    EXPECT_NE(ErrorOf({"--scenario", "all", "--rate", "100"}).find("--rate is not supported"),
              std::string::npos);
    EXPECT_EQ(ErrorOf({"--scenario", "uniform,batch", "--rate", "100"}), "<parsed>");
    EXPECT_NE(ErrorOf({"--scenario", "naive-hot", "--concurrency", "129"}).find("at most 128"),
              std::string::npos);
    EXPECT_EQ(ErrorOf({"--scenario", "naive", "--concurrency", "128"}), "<parsed>");
    EXPECT_EQ(ErrorOf({"--scenario", "hot", "--concurrency", "1000"}), "<parsed>");
}

TEST(ParseLedgerCommand, RejectsValuesOutOfRange) {
    struct Case {
        std::vector<std::string_view> args;
        std::string_view message_part;
    };
    const std::vector<Case> cases = {
        {{"--accounts", "1"}, "--accounts 1: expected a whole number from 2 to 1000000"},
        {{"--accounts", "1000001"}, "from 2 to 1000000"},
        {{"--accounts", "ten"}, "whole number"},
        {{"--batch-size", "0"}, "--batch-size 0: expected a whole number from 1 to 1000"},
        {{"--batch-size", "1001"}, "from 1 to 1000"},
        {{"--naive-schema", "ledger"}, "--naive-schema ledger: expected a schema name"},
        {{"--naive-schema", "pg_temp"}, "expected a schema name"},
        {{"--naive-schema", "public"}, "expected a schema name"},
        {{"--naive-schema", "payout"}, "expected a schema name"},
        {{"--naive-schema", "Bench"}, "expected a schema name"},
        {{"--naive-schema", "bench;drop"}, "expected a schema name"},
        {{"--naive-schema", "9lives"}, "expected a schema name"},
        {{"--bogus", "1"}, "unknown flag --bogus for `bench ledger`"},
        {{"--url"}, "--url needs a value"},
    };
    for (const Case& bad : cases) {
        std::vector<std::string_view> args = {"--scenario", "all"};
        args.insert(args.end(), bad.args.begin(), bad.args.end());
        const std::string error = ErrorOf(args);
        EXPECT_NE(error.find(bad.message_part), std::string::npos)
            << bad.args.front() << " -> " << error;
    }
}

TEST(IsValidNaiveSchema, AcceptsPlainLowerCaseIdentifiers) {
    EXPECT_TRUE(IsValidNaiveSchema("bench_naive"));
    EXPECT_TRUE(IsValidNaiveSchema("_x9"));
    EXPECT_TRUE(IsValidNaiveSchema(std::string(63, 'a')));
    EXPECT_FALSE(IsValidNaiveSchema(std::string(64, 'a')));
    EXPECT_FALSE(IsValidNaiveSchema(""));
    EXPECT_FALSE(IsValidNaiveSchema("a-b"));
    EXPECT_FALSE(IsValidNaiveSchema("a\"b"));
}

}  // namespace
}  // namespace bench
