#include "commons/runtime_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "commons/ids.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"
#include "support/temp_dir.hpp"

namespace commons {
namespace {

namespace fs = std::filesystem;

struct TempDir : test_support::TempDir {
    TempDir() : test_support::TempDir("runtime-config-test") {}
};
using testing::ElementsAre;
using testing::HasSubstr;
using testing::Not;
using testing::Pair;

// An integer from 1 to 100.
std::optional<std::string> ValidatePercent(std::string_view value) {
    int parsed = 0;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (error != std::errc() || end != value.data() + value.size() || parsed < 1 || parsed > 100) {
        return "expected an integer from 1 to 100";
    }
    return std::nullopt;
}

std::vector<RuntimeConfig::Key> Keys() {
    return {
        {"sample-percent", "10", ValidatePercent},
        {"log-level", "info",
         [](std::string_view value) -> std::optional<std::string> {
             if (ParseLogLevel(value)) return std::nullopt;
             return "unknown level";
         }},
        {"banner", "hello", nullptr},  // no validator: anything goes
    };
}

// Logger and metrics for one RuntimeConfig; the log goes to a tmpfile so tests stay quiet.
class RuntimeConfigTest : public testing::Test {
  protected:
    RuntimeConfigTest() : log_file_(std::tmpfile()), logger_("test", log_file_) {}
    ~RuntimeConfigTest() override { std::fclose(log_file_); }

    std::string Metric(const std::string& result) {
        return "runtime_config_reloads_total{result=\"" + result + "\"}";
    }

    std::string LogText() {
        std::string all = test_support::ReadAll(log_file_);
        return all;
    }

    TempDir dir_;
    std::FILE* log_file_;
    Logger logger_;
    Metrics metrics_;
};

TEST_F(RuntimeConfigTest, EmptyDirPathGivesDefaults) {
    RuntimeConfig config("", Keys(), logger_, metrics_);
    EXPECT_EQ(config.Get("sample-percent"), "10");
    EXPECT_EQ(config.Get("log-level"), "info");
    EXPECT_EQ(config.Get("banner"), "hello");
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 0);
    EXPECT_EQ(report.rejected, 0);
}

TEST_F(RuntimeConfigTest, EmptyDirectoryGivesDefaults) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    EXPECT_EQ(config.Get("sample-percent"), "10");
    EXPECT_EQ(config.Get("log-level"), "info");
    EXPECT_EQ(config.Get("banner"), "hello");
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 0);
    EXPECT_EQ(report.rejected, 0);
}

TEST_F(RuntimeConfigTest, MissingDirectoryGivesDefaults) {
    RuntimeConfig config(dir_.path() / "absent", Keys(), logger_, metrics_);
    EXPECT_EQ(config.Get("sample-percent"), "10");
    EXPECT_EQ(config.Reload().rejected, 0);
}

TEST_F(RuntimeConfigTest, ReadsValuesPresentAtConstruction) {
    dir_.Write("sample-percent", "25\n");
    dir_.Write("banner", "maintenance tonight \r\n");
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    EXPECT_EQ(config.Get("sample-percent"), "25");
    EXPECT_EQ(config.Get("banner"), "maintenance tonight");
    EXPECT_EQ(config.Get("log-level"), "info");
}

TEST_F(RuntimeConfigTest, IgnoresFilesOfUndeclaredKeys) {
    dir_.Write("unknown-key", "whatever");
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 0);
    EXPECT_EQ(report.rejected, 0);
}

TEST_F(RuntimeConfigTest, AppliesChangedValidValueAndCallsListener) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    std::vector<std::pair<std::string, std::string>> calls;
    std::string seen_through_get;
    config.OnChange([&](const std::string& key, const std::string& value) {
        calls.emplace_back(key, value);
        seen_through_get = config.Get(key);
    });

    dir_.Write("sample-percent", "50");
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 1);
    EXPECT_EQ(report.rejected, 0);
    EXPECT_EQ(config.Get("sample-percent"), "50");
    EXPECT_THAT(calls, ElementsAre(Pair("sample-percent", "50")));
    EXPECT_EQ(seen_through_get, "50");  // the change is visible before listeners run
    EXPECT_THAT(metrics_.Serialize(), HasSubstr(Metric("applied") + " 1"));
}

TEST_F(RuntimeConfigTest, CallsEveryListener) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    int first = 0;
    int second = 0;
    config.OnChange([&](const std::string&, const std::string&) { ++first; });
    config.OnChange([&](const std::string&, const std::string&) { ++second; });
    dir_.Write("banner", "new");
    config.Reload();
    EXPECT_EQ(first, 1);
    EXPECT_EQ(second, 1);
}

TEST_F(RuntimeConfigTest, ReportsSeveralChangedKeysInOneReload) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    std::vector<std::pair<std::string, std::string>> calls;
    config.OnChange(
        [&](const std::string& key, const std::string& value) { calls.emplace_back(key, value); });
    dir_.Write("sample-percent", "99");
    dir_.Write("log-level", "debug");
    dir_.Write("banner", "x");
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 3);
    EXPECT_EQ(calls.size(), 3u);
    EXPECT_EQ(config.Get("log-level"), "debug");
}

TEST_F(RuntimeConfigTest, UnchangedFileIsNotReappliedOrReported) {
    dir_.Write("sample-percent", "50");
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    int calls = 0;
    config.OnChange([&](const std::string&, const std::string&) { ++calls; });
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 0);
    EXPECT_EQ(report.rejected, 0);
    EXPECT_EQ(calls, 0);
}

TEST_F(RuntimeConfigTest, SameValueWrittenDifferentlyIsNotAChange) {
    dir_.Write("sample-percent", "50");
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    int calls = 0;
    config.OnChange([&](const std::string&, const std::string&) { ++calls; });
    dir_.Write("sample-percent", "50\n\n");
    EXPECT_EQ(config.Reload().applied, 0);
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(config.Get("sample-percent"), "50");
}

TEST_F(RuntimeConfigTest, RejectsInvalidValueKeepsOldAndCountsMetric) {
    dir_.Write("sample-percent", "50");
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    int calls = 0;
    config.OnChange([&](const std::string&, const std::string&) { ++calls; });

    dir_.Write("sample-percent", "abc");
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 0);
    EXPECT_EQ(report.rejected, 1);
    EXPECT_EQ(config.Get("sample-percent"), "50");
    EXPECT_EQ(calls, 0);
    EXPECT_THAT(metrics_.Serialize(), HasSubstr(Metric("rejected") + " 1"));
    EXPECT_THAT(LogText(), HasSubstr("runtime config value rejected"));
    EXPECT_THAT(LogText(), HasSubstr("expected an integer from 1 to 100"));
}

TEST_F(RuntimeConfigTest, CountsTheSameRejectedValueOnce) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    dir_.Write("sample-percent", "1000");
    EXPECT_EQ(config.Reload().rejected, 1);
    EXPECT_EQ(config.Reload().rejected, 0);
    EXPECT_EQ(config.Reload().rejected, 0);
    EXPECT_THAT(metrics_.Serialize(), HasSubstr(Metric("rejected") + " 1"));
    EXPECT_EQ(config.Get("sample-percent"), "10");
}

TEST_F(RuntimeConfigTest, EachNewInvalidValueIsCounted) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    dir_.Write("sample-percent", "0");
    EXPECT_EQ(config.Reload().rejected, 1);
    dir_.Write("sample-percent", "101");
    EXPECT_EQ(config.Reload().rejected, 1);
    EXPECT_THAT(metrics_.Serialize(), HasSubstr(Metric("rejected") + " 2"));
}

TEST_F(RuntimeConfigTest, FixedValueAfterRejectionIsApplied) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    dir_.Write("log-level", "verbose");
    EXPECT_EQ(config.Reload().rejected, 1);
    EXPECT_EQ(config.Get("log-level"), "info");
    dir_.Write("log-level", "warn");
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 1);
    EXPECT_EQ(report.rejected, 0);
    EXPECT_EQ(config.Get("log-level"), "warn");
}

TEST_F(RuntimeConfigTest, InvalidValueAtConstructionKeepsDefaultAndCounts) {
    dir_.Write("sample-percent", "-5");
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    EXPECT_EQ(config.Get("sample-percent"), "10");
    EXPECT_THAT(metrics_.Serialize(), HasSubstr(Metric("rejected") + " 1"));
}

TEST_F(RuntimeConfigTest, RemovedFileRestoresDefaultAndCallsListener) {
    dir_.Write("sample-percent", "50");
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    ASSERT_EQ(config.Get("sample-percent"), "50");
    std::vector<std::pair<std::string, std::string>> calls;
    config.OnChange(
        [&](const std::string& key, const std::string& value) { calls.emplace_back(key, value); });
    dir_.Remove("sample-percent");
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 1);
    EXPECT_EQ(config.Get("sample-percent"), "10");
    EXPECT_THAT(calls, ElementsAre(Pair("sample-percent", "10")));
}

TEST_F(RuntimeConfigTest, RemovedFileAfterRejectionLeavesDefault) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    dir_.Write("sample-percent", "abc");
    EXPECT_EQ(config.Reload().rejected, 1);
    dir_.Remove("sample-percent");
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 0);
    EXPECT_EQ(report.rejected, 0);
    EXPECT_EQ(config.Get("sample-percent"), "10");
}

TEST_F(RuntimeConfigTest, KeyWithoutValidatorAcceptsAnything) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    dir_.Write("banner", "");
    auto report = config.Reload();
    EXPECT_EQ(report.applied, 1);
    EXPECT_EQ(config.Get("banner"), "");
}

TEST_F(RuntimeConfigTest, RejectsOversizedFile) {
    dir_.Write("banner", "small");
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    dir_.Write("banner", std::string(64 * 1024 + 1, 'x'));
    auto report = config.Reload();
    EXPECT_EQ(report.rejected, 1);
    EXPECT_EQ(config.Get("banner"), "small");
    EXPECT_THAT(metrics_.Serialize(), HasSubstr(Metric("rejected") + " 1"));
}

TEST_F(RuntimeConfigTest, AcceptsFileAtSizeLimit) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    dir_.Write("banner", std::string(64 * 1024, 'x'));
    EXPECT_EQ(config.Reload().applied, 1);
    EXPECT_EQ(config.Get("banner").size(), 64u * 1024);
}

TEST_F(RuntimeConfigTest, FollowsSymlinkSwapLikeConfigMaps) {
    fs::create_directories(dir_.path() / "v1");
    fs::create_directories(dir_.path() / "v2");
    dir_.Write("v1/sample-percent", "20");
    dir_.Write("v2/sample-percent", "30");
    fs::create_directory_symlink("v1", dir_.path() / "..data");
    fs::create_symlink("..data/sample-percent", dir_.path() / "sample-percent");
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    EXPECT_EQ(config.Get("sample-percent"), "20");

    fs::create_directory_symlink("v2", dir_.path() / "..data_tmp");
    fs::rename(dir_.path() / "..data_tmp", dir_.path() / "..data");  // atomic swap
    EXPECT_EQ(config.Reload().applied, 1);
    EXPECT_EQ(config.Get("sample-percent"), "30");
}

TEST_F(RuntimeConfigTest, NoMetricLinesBeforeAnyChange) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    EXPECT_THAT(metrics_.Serialize(), Not(HasSubstr(Metric("rejected"))));
    EXPECT_THAT(metrics_.Serialize(), Not(HasSubstr(Metric("applied"))));
}

TEST_F(RuntimeConfigTest, WatcherStopsPromptlyOnDestruction) {
    auto config = std::make_unique<RuntimeConfig>(dir_.path(), Keys(), logger_, metrics_);
    config->StartWatching(std::chrono::hours(1));
    auto start = std::chrono::steady_clock::now();
    config.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(RuntimeConfigTest, StartWatchingWithoutDirectoryIsANoOp) {
    RuntimeConfig config("", Keys(), logger_, metrics_);
    config.StartWatching(std::chrono::milliseconds(1));
    EXPECT_EQ(config.Get("banner"), "hello");
}

TEST_F(RuntimeConfigTest, LogsAppliedValues) {
    RuntimeConfig config(dir_.path(), Keys(), logger_, metrics_);
    dir_.Write("log-level", "error");
    config.Reload();
    EXPECT_THAT(LogText(), HasSubstr("runtime config value applied"));
    EXPECT_THAT(LogText(), HasSubstr("\"key\":\"log-level\""));
}

}  // namespace
}  // namespace commons
