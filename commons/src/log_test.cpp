#include "commons/log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"

namespace commons {
namespace {

using nlohmann::json;

// A tmpfile() a Logger writes to, read back as lines.
class CapturedOutput {
  public:
    CapturedOutput() : file_(std::tmpfile()) {}
    ~CapturedOutput() {
        if (file_ != nullptr) std::fclose(file_);
    }
    CapturedOutput(const CapturedOutput&) = delete;
    CapturedOutput& operator=(const CapturedOutput&) = delete;

    std::FILE* file() const { return file_; }

    std::vector<std::string> Lines() const {
        std::string all = test_support::ReadAll(file_);
        std::vector<std::string> lines;
        std::size_t start = 0;
        while (start < all.size()) {
            auto end = all.find('\n', start);
            EXPECT_NE(end, std::string::npos) << "last line has no newline";
            if (end == std::string::npos) end = all.size();
            lines.push_back(all.substr(start, end - start));
            start = end + 1;
        }
        return lines;
    }

  private:
    std::FILE* file_;
};

json Parse(const std::string& line) {
    json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << line;
    return parsed;
}

TEST(LogLevel, NamesRoundTripThroughParse) {
    for (auto level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
        EXPECT_EQ(ParseLogLevel(LogLevelName(level)), level);
    }
    EXPECT_EQ(LogLevelName(LogLevel::kDebug), "debug");
    EXPECT_EQ(LogLevelName(LogLevel::kInfo), "info");
    EXPECT_EQ(LogLevelName(LogLevel::kWarn), "warn");
    EXPECT_EQ(LogLevelName(LogLevel::kError), "error");
}

TEST(LogLevel, ParseRejectsUnknownNames) {
    for (const char* text : {"", "INFO", "warning", "fatal", "trace", " info"}) {
        EXPECT_EQ(ParseLogLevel(text), std::nullopt) << text;
    }
}

TEST(LoggerFormat, IsOneJsonObjectWithTimeLevelServiceMsg) {
    Logger logger("ledger", nullptr);
    std::string line = logger.Format(LogLevel::kWarn, "balance low", {});
    EXPECT_EQ(line.find('\n'), std::string::npos);
    json parsed = Parse(line);
    ASSERT_TRUE(parsed.is_object());
    EXPECT_EQ(parsed["level"], "warn");
    EXPECT_EQ(parsed["service"], "ledger");
    EXPECT_EQ(parsed["msg"], "balance low");
    ASSERT_TRUE(parsed["time"].is_string());
    EXPECT_TRUE(std::regex_match(parsed["time"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
        << parsed["time"];
    EXPECT_FALSE(parsed.contains("request_id"));
    EXPECT_EQ(parsed.size(), 4u);
}

TEST(LoggerFormat, StartsWithTimeLevelServiceMsgInOrder) {
    Logger logger("payin", nullptr);
    std::string line = logger.Format(LogLevel::kInfo, "m", {{"a", 1}});
    auto time = line.find("\"time\"");
    auto level = line.find("\"level\"");
    auto service = line.find("\"service\"");
    auto msg = line.find("\"msg\"");
    auto field = line.find("\"a\"");
    EXPECT_EQ(time, 1u) << line;
    EXPECT_LT(time, level);
    EXPECT_LT(level, service);
    EXPECT_LT(service, msg);
    EXPECT_LT(msg, field);
}

TEST(LoggerFormat, EscapesMessage) {
    Logger logger("ledger", nullptr);
    std::string message = "quote \" backslash \\ newline \n tab \t control \x01";
    json parsed = Parse(logger.Format(LogLevel::kInfo, message, {}));
    EXPECT_EQ(parsed["msg"], message);
}

TEST(LoggerFormat, WritesFieldsOfEveryType) {
    Logger logger("ledger", nullptr);
    std::string owned = "owned";
    std::string_view view = "view";
    std::string line = logger.Format(LogLevel::kInfo, "fields",
                                     {{"string", owned},
                                      {"view", view},
                                      {"literal", "literal"},
                                      {"int", 42},
                                      {"negative", -7},
                                      {"int64_min", std::numeric_limits<std::int64_t>::min()},
                                      {"size", std::size_t{12}},
                                      {"uint16", std::uint16_t{65535}},
                                      {"double", 2.5},
                                      {"true", true},
                                      {"false", false}});
    json parsed = Parse(line);
    EXPECT_EQ(parsed["string"], "owned");
    EXPECT_EQ(parsed["view"], "view");
    EXPECT_EQ(parsed["literal"], "literal");
    ASSERT_TRUE(parsed["int"].is_number_integer());
    EXPECT_EQ(parsed["int"].get<std::int64_t>(), 42);
    EXPECT_EQ(parsed["negative"].get<std::int64_t>(), -7);
    EXPECT_EQ(parsed["int64_min"].get<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(parsed["size"].get<std::int64_t>(), 12);
    EXPECT_EQ(parsed["uint16"].get<std::int64_t>(), 65535);
    ASSERT_TRUE(parsed["double"].is_number_float());
    EXPECT_DOUBLE_EQ(parsed["double"].get<double>(), 2.5);
    ASSERT_TRUE(parsed["true"].is_boolean());
    EXPECT_TRUE(parsed["true"].get<bool>());
    ASSERT_TRUE(parsed["false"].is_boolean());
    EXPECT_FALSE(parsed["false"].get<bool>());
}

TEST(LoggerFormat, InvalidUtf8InFieldDoesNotThrow) {
    Logger logger("ledger", nullptr);
    std::string bad = "caf\xc3 \xff\xfe end";
    std::string line;
    ASSERT_NO_THROW(line = logger.Format(LogLevel::kInfo, "client input", {{"body", bad}}));
    json parsed = Parse(line);
    ASSERT_TRUE(parsed["body"].is_string());
    EXPECT_THAT(parsed["body"].get<std::string>(), testing::StartsWith("caf"));
    EXPECT_THAT(parsed["body"].get<std::string>(), testing::EndsWith(" end"));
    EXPECT_THAT(parsed["body"].get<std::string>(), testing::HasSubstr("\xEF\xBF\xBD"));  // U+FFFD
}

TEST(LoggerFormat, InvalidUtf8InMessageAndRequestIdDoesNotThrow) {
    Logger logger("ledger", nullptr);
    ScopedRequestId scope("req_\xff");
    std::string line;
    ASSERT_NO_THROW(line = logger.Format(LogLevel::kError, "bad \xc0\xaf", {}));
    json parsed = Parse(line);
    EXPECT_TRUE(parsed["msg"].is_string());
    EXPECT_TRUE(parsed["request_id"].is_string());
}

TEST(LoggerFormat, KeepsValidUtf8) {
    Logger logger("ledger", nullptr);
    json parsed = Parse(logger.Format(LogLevel::kInfo, "caf\xc3\xa9", {{"name", "\xe2\x82\xac"}}));
    EXPECT_EQ(parsed["msg"], "caf\xc3\xa9");
    EXPECT_EQ(parsed["name"], "\xe2\x82\xac");
}

TEST(ScopedRequestId, AddsRequestIdOnlyInsideScope) {
    Logger logger("ledger", nullptr);
    EXPECT_EQ(CurrentRequestId(), "");
    EXPECT_FALSE(Parse(logger.Format(LogLevel::kInfo, "before", {})).contains("request_id"));
    {
        ScopedRequestId scope("req_123");
        EXPECT_EQ(CurrentRequestId(), "req_123");
        json parsed = Parse(logger.Format(LogLevel::kInfo, "inside", {}));
        EXPECT_EQ(parsed["request_id"], "req_123");
    }
    EXPECT_EQ(CurrentRequestId(), "");
    EXPECT_FALSE(Parse(logger.Format(LogLevel::kInfo, "after", {})).contains("request_id"));
}

TEST(ScopedRequestId, NestedScopeRestoresOuterId) {
    ScopedRequestId outer("req_outer");
    {
        ScopedRequestId inner("req_inner");
        EXPECT_EQ(CurrentRequestId(), "req_inner");
    }
    EXPECT_EQ(CurrentRequestId(), "req_outer");
}

TEST(ScopedRequestId, EmptyIdMeansNoRequestId) {
    Logger logger("ledger", nullptr);
    ScopedRequestId outer("req_outer");
    {
        ScopedRequestId empty("");
        EXPECT_FALSE(Parse(logger.Format(LogLevel::kInfo, "m", {})).contains("request_id"));
    }
    EXPECT_EQ(Parse(logger.Format(LogLevel::kInfo, "m", {}))["request_id"], "req_outer");
}

TEST(ScopedRequestId, IsPerThread) {
    ScopedRequestId scope("req_main");
    std::string seen_on_other_thread = "unset";
    std::thread other([&seen_on_other_thread] {
        seen_on_other_thread = std::string(CurrentRequestId());
        ScopedRequestId own("req_other");
    });
    other.join();
    EXPECT_EQ(seen_on_other_thread, "");
    EXPECT_EQ(CurrentRequestId(), "req_main");
}

TEST(Logger, WritesOneLinePerCallToItsFile) {
    CapturedOutput output;
    Logger logger("ledger", output.file(), LogLevel::kDebug);
    logger.Info("first", {{"n", 1}});
    logger.Error("second");
    auto lines = output.Lines();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(Parse(lines[0])["msg"], "first");
    EXPECT_EQ(Parse(lines[0])["n"], 1);
    EXPECT_EQ(Parse(lines[1])["msg"], "second");
    EXPECT_EQ(Parse(lines[1])["level"], "error");
}

TEST(Logger, DropsLinesBelowItsLevel) {
    CapturedOutput output;
    Logger logger("ledger", output.file(), LogLevel::kWarn);
    logger.Debug("debug");
    logger.Info("info");
    logger.Warn("warn");
    logger.Error("error");
    logger.Log(LogLevel::kInfo, "info via Log");
    auto lines = output.Lines();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(Parse(lines[0])["level"], "warn");
    EXPECT_EQ(Parse(lines[1])["level"], "error");
}

TEST(Logger, DefaultsToInfo) {
    CapturedOutput output;
    Logger logger("ledger", output.file());
    EXPECT_EQ(logger.level(), LogLevel::kInfo);
    EXPECT_FALSE(logger.Enabled(LogLevel::kDebug));
    EXPECT_TRUE(logger.Enabled(LogLevel::kInfo));
    logger.Debug("hidden");
    logger.Info("shown");
    auto lines = output.Lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(Parse(lines[0])["msg"], "shown");
}

TEST(Logger, SetLevelChangesFilteringAtRunTime) {
    CapturedOutput output;
    Logger logger("ledger", output.file(), LogLevel::kError);
    logger.Info("dropped");
    logger.SetLevel(LogLevel::kDebug);
    EXPECT_EQ(logger.level(), LogLevel::kDebug);
    EXPECT_TRUE(logger.Enabled(LogLevel::kDebug));
    logger.Debug("kept");
    logger.SetLevel(LogLevel::kError);
    logger.Warn("dropped too");
    auto lines = output.Lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(Parse(lines[0])["msg"], "kept");
    EXPECT_EQ(Parse(lines[0])["level"], "debug");
}

TEST(Logger, ExposesService) {
    Logger logger("webhook", nullptr);
    EXPECT_EQ(logger.service(), "webhook");
}

TEST(Logger, ConcurrentLinesStayWhole) {
    CapturedOutput output;
    Logger logger("ledger", output.file());
    constexpr int kThreads = 4;
    constexpr int kPerThread = 200;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&logger, t] {
            for (int i = 0; i < kPerThread; ++i) {
                logger.Info("concurrent",
                            {{"thread", t}, {"i", i}, {"pad", std::string(200, 'x')}});
            }
        });
    }
    for (auto& thread : threads) thread.join();
    auto lines = output.Lines();
    ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kPerThread));
    for (const auto& line : lines) ASSERT_EQ(Parse(line)["msg"], "concurrent") << line;
}

}  // namespace
}  // namespace commons

namespace commons {
namespace {

TEST(LoggerFormat, FieldNamedLikeABuiltInKeyDoesNotReplaceIt) {
    Logger logger("ledger", nullptr);
    auto parsed = nlohmann::json::parse(
        logger.Format(LogLevel::kInfo, "real message", {{"msg", "field"}, {"level", 3}}));
    EXPECT_EQ(parsed["msg"], "real message");
    EXPECT_EQ(parsed["level"], "info");
    EXPECT_EQ(parsed["msg_field"], "field");
    EXPECT_EQ(parsed["level_field"], 3);
}

TEST(LoggerFormat, ExplicitRequestIdFieldIsWrittenOnce) {
    Logger logger("ledger", nullptr);
    ScopedRequestId scope("req_scope");
    std::string line = logger.Format(LogLevel::kInfo, "m", {{"request_id", "req_field"}});
    EXPECT_EQ(nlohmann::json::parse(line)["request_id"], "req_field");
    EXPECT_EQ(line.find("req_scope"), std::string::npos);
}

TEST(LoggerFormat, WholeDoublesStayFloatsAndNonFiniteBecomesNull) {
    Logger logger("ledger", nullptr);
    auto parsed = nlohmann::json::parse(logger.Format(
        LogLevel::kInfo, "m", {{"whole", 3.0}, {"nan", std::numeric_limits<double>::quiet_NaN()}}));
    EXPECT_TRUE(parsed["whole"].is_number_float());
    EXPECT_TRUE(parsed["nan"].is_null());
}

}  // namespace
}  // namespace commons
