#include "bench/cpu_usage.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace bench {
namespace {

using namespace std::chrono_literals;

TEST(ParseProcStat, SumsBusyIdleAndStealFromTheCpuLine) {
    // user nice system idle iowait irq softirq steal guest guest_nice
    const auto ticks =
        ParseProcStat("cpu  100 5 50 1000 20 3 2 400 0 0\ncpu0 50 2 25 500 10 1 1 200 0 0\n");
    ASSERT_TRUE(ticks.has_value());
    EXPECT_EQ(ticks->busy, 100u + 5 + 50 + 3 + 2);
    EXPECT_EQ(ticks->idle, 1000u + 20);
    EXPECT_EQ(ticks->steal, 400u);
    EXPECT_EQ(ticks->total(), 160u + 1020 + 400);
}

TEST(ParseProcStat, RefusesOtherLinesAndShortOnes) {
    EXPECT_FALSE(ParseProcStat("cpu0 1 2 3 4 5 6 7 8\n").has_value());
    EXPECT_FALSE(ParseProcStat("cpu  1 2 3 4 5 6 7\n").has_value());
    EXPECT_FALSE(ParseProcStat("").has_value());
    EXPECT_FALSE(ParseProcStat("intr 1 2 3 4 5 6 7 8").has_value());
}

TEST(ParsePidStat, ReadsTheNameAndUserPlusSystemTicks) {
    // Fields: pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime stime ...
    const auto process = ParsePidStat(
        "4242 (ledger-service) S 1 4242 4242 0 -1 4194560 1200 0 3 0 731 129 0 0 20 0 40 0\n");
    ASSERT_TRUE(process.has_value());
    EXPECT_EQ(process->comm, "ledger-service");
    EXPECT_EQ(process->cpu, 731u + 129);
}

TEST(ParsePidStat, ANameWithSpacesAndParenthesesEndsAtTheLastParenthesis) {
    const auto process =
        ParsePidStat("7 (a) b (c)) R 1 7 7 34816 7 0 0 0 0 0 11 22 0 0 20 0 1 0\n");
    ASSERT_TRUE(process.has_value());
    EXPECT_EQ(process->comm, "a) b (c)");
    EXPECT_EQ(process->cpu, 33u);
}

TEST(ParsePidStat, RefusesMalformedText) {
    EXPECT_FALSE(ParsePidStat("").has_value());
    EXPECT_FALSE(ParsePidStat("12 postgres S 1 2 3").has_value());
    EXPECT_FALSE(ParsePidStat("12 (postgres) S 1 2 3 4 5 6 7 8 9").has_value());
    EXPECT_FALSE(ParsePidStat("12 (postgres) S 1 2 3 4 5 6 7 8 9 10 x y").has_value());
}

TEST(CpuBetween, ReportsSharesAndSecondsPerName) {
    CpuSample earlier;
    earlier.at = std::chrono::steady_clock::time_point(10s);
    earlier.machine = {100, 100, 0};
    earlier.processes = {{"svc", 50}, {"db", 500}};
    CpuSample later;
    later.at = std::chrono::steady_clock::time_point(12s);
    later.machine = {250, 150, 100};                // +150 busy, +50 idle, +100 steal
    later.processes = {{"svc", 150}, {"db", 400}};  // db went down: a backend exited

    const CpuUsage usage = CpuBetween(earlier, later, {"svc", "db", "gone"}, 100);
    EXPECT_DOUBLE_EQ(usage.window_s, 2.0);
    EXPECT_DOUBLE_EQ(usage.busy_share, 0.5);
    EXPECT_DOUBLE_EQ(usage.steal_share, 100.0 / 300.0);
    ASSERT_EQ(usage.process_seconds.size(), 3u);
    EXPECT_EQ(usage.process_seconds[0].first, "svc");
    EXPECT_DOUBLE_EQ(usage.process_seconds[0].second, 1.0);
    EXPECT_DOUBLE_EQ(usage.process_seconds[1].second, 0.0);
    EXPECT_EQ(usage.process_seconds[2].first, "gone");
    EXPECT_DOUBLE_EQ(usage.process_seconds[2].second, 0.0);
    EXPECT_DOUBLE_EQ(usage.total_process_seconds(), 1.0);
}

std::string OwnCommandName() {
    std::ifstream in("/proc/self/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

TEST(SampleCpu, CountsTheCpuThisProcessBurns) {
    const std::string self = OwnCommandName();
    ASSERT_FALSE(self.empty());
    const CpuSample before = SampleCpu({self});
    EXPECT_GT(before.machine.total(), 0u);
    // Burn CPU until the tick count for this command name grows (a tick is 10 ms at most). The
    // count sums every process of the name, and CTest runs other processes of this binary at
    // the same time: one that exits between the samples takes its ticks out of the sum, so
    // burn on until this process's own ticks outweigh that.
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    volatile std::uint64_t sink = 0;
    CpuSample after = before;
    while (after.processes.at(self) <= before.processes.at(self) &&
           std::chrono::steady_clock::now() < deadline) {
        for (int i = 0; i < 5'000'000; ++i) sink = sink + static_cast<std::uint64_t>(i);
        after = SampleCpu({self});
    }
    EXPECT_GT(after.processes.at(self), before.processes.at(self));
    const CpuUsage usage = CpuBetween(before, after, {self}, TicksPerSecond());
    EXPECT_GT(usage.total_process_seconds(), 0.0);
    EXPECT_GT(usage.window_s, 0.0);
}

TEST(CpuWindow, FinishingBeforeTheDelayGivesNoWindow) {
    CpuWindow window({OwnCommandName()}, 1h);
    EXPECT_FALSE(window.Finish().has_value());
}

TEST(CpuWindow, FinishingAfterTheFirstSampleGivesAWindow) {
    CpuWindow window({OwnCommandName()}, 0s);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!window.Opened() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    ASSERT_TRUE(window.Opened());
    const std::optional<CpuUsage> usage = window.Finish();
    ASSERT_TRUE(usage.has_value());
    ASSERT_EQ(usage->process_seconds.size(), 1u);
    EXPECT_EQ(usage->process_seconds[0].first, OwnCommandName());
    EXPECT_GE(usage->window_s, 0.0);
}

}  // namespace
}  // namespace bench
