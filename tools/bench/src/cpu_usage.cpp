#include "bench/cpu_usage.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "commons/assert.hpp"

namespace bench {
namespace {

// Splits on spaces and reads each field as an unsigned number; stops at the first that is not.
std::vector<std::uint64_t> Numbers(std::string_view text, std::size_t at_most) {
    std::vector<std::uint64_t> numbers;
    std::size_t at = 0;
    while (numbers.size() < at_most) {
        while (at < text.size() && text[at] == ' ') ++at;
        if (at >= text.size() || text[at] == '\n') break;
        std::uint64_t value = 0;
        auto [end, error] = std::from_chars(text.data() + at, text.data() + text.size(), value);
        if (error != std::errc()) break;
        numbers.push_back(value);
        at = static_cast<std::size_t>(end - text.data());
    }
    return numbers;
}

std::optional<std::string> ReadSmallFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return std::move(text).str();
}

}  // namespace

std::optional<MachineTicks> ParseProcStat(std::string_view text) {
    if (!text.starts_with("cpu ")) return std::nullopt;
    const auto n = Numbers(text.substr(4), 8);
    if (n.size() < 8) return std::nullopt;
    // user nice system idle iowait irq softirq steal
    return MachineTicks{n[0] + n[1] + n[2] + n[5] + n[6], n[3] + n[4], n[7]};
}

std::optional<ProcessTicks> ParsePidStat(std::string_view text) {
    // "<pid> (<comm>) <state> <ppid> ... field 14 utime, 15 stime": the command name may hold
    // ") ", so the last ')' ends it.
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open ||
        close + 2 > text.size()) {
        return std::nullopt;
    }
    std::string_view rest = text.substr(close + 2);  // from field 3, the state
    const auto space = rest.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    // Fields 4..15 follow the state: ppid pgrp session tty_nr tpgid flags minflt cminflt
    // majflt cmajflt utime stime. Some may be negative (tty_nr, tpgid), so skip them as text.
    std::string_view fields = rest.substr(space + 1);
    for (int skip = 0; skip < 10; ++skip) {
        const auto next = fields.find(' ');
        if (next == std::string_view::npos) return std::nullopt;
        fields = fields.substr(next + 1);
    }
    const auto n = Numbers(fields, 2);
    if (n.size() < 2) return std::nullopt;
    return ProcessTicks{std::string(text.substr(open + 1, close - open - 1)), n[0] + n[1]};
}

CpuSample SampleCpu(const std::vector<std::string>& names) {
    CpuSample sample;
    sample.at = std::chrono::steady_clock::now();
    if (auto stat = ReadSmallFile("/proc/stat")) {
        sample.machine = ParseProcStat(*stat).value_or(MachineTicks{});
    }
    for (const auto& name : names) sample.processes[name] = 0;
    if (names.empty()) return sample;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
        const std::string pid = entry.path().filename().string();
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
        // A process may exit between listing and reading: skip what cannot be read.
        const auto text = ReadSmallFile(entry.path() / "stat");
        if (!text) continue;
        const auto process = ParsePidStat(*text);
        if (!process) continue;
        auto found = sample.processes.find(process->comm);
        if (found != sample.processes.end()) found->second += process->cpu;
    }
    return sample;
}

double CpuUsage::total_process_seconds() const {
    double total = 0;
    for (const auto& [name, seconds] : process_seconds) total += seconds;
    return total;
}

CpuUsage CpuBetween(const CpuSample& earlier, const CpuSample& later,
                    const std::vector<std::string>& names, double ticks_per_second) {
    PAY_ASSERT(ticks_per_second > 0);
    auto delta = [](std::uint64_t from, std::uint64_t to) { return to >= from ? to - from : 0; };
    CpuUsage usage;
    usage.window_s = std::chrono::duration<double>(later.at - earlier.at).count();
    const auto busy = static_cast<double>(delta(earlier.machine.busy, later.machine.busy));
    const auto idle = static_cast<double>(delta(earlier.machine.idle, later.machine.idle));
    const auto steal = static_cast<double>(delta(earlier.machine.steal, later.machine.steal));
    const double total = busy + idle + steal;
    if (total > 0) {
        usage.busy_share = busy / total;
        usage.steal_share = steal / total;
    }
    for (const auto& name : names) {
        auto from = earlier.processes.find(name);
        auto to = later.processes.find(name);
        const std::uint64_t ticks = from == earlier.processes.end() || to == later.processes.end()
                                        ? 0
                                        : delta(from->second, to->second);
        usage.process_seconds.emplace_back(name, static_cast<double>(ticks) / ticks_per_second);
    }
    return usage;
}

double TicksPerSecond() {
    const long ticks = ::sysconf(_SC_CLK_TCK);
    return ticks > 0 ? static_cast<double>(ticks) : 100.0;
}

CpuWindow::CpuWindow(std::vector<std::string> names, std::chrono::steady_clock::duration delay)
    : names_(std::move(names)) {
    const auto due = std::chrono::steady_clock::now() + delay;
    thread_ = std::thread([this, due] {
        std::unique_lock lock(mutex_);
        changed_.wait_until(lock, due, [this] { return finishing_; });
        if (!finishing_) first_ = SampleCpu(names_);
    });
}

CpuWindow::~CpuWindow() {
    {
        std::lock_guard lock(mutex_);
        finishing_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool CpuWindow::Opened() {
    std::lock_guard lock(mutex_);
    return first_.has_value();
}

std::optional<CpuUsage> CpuWindow::Finish() {
    {
        std::lock_guard lock(mutex_);
        finishing_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (!first_) return std::nullopt;
    return CpuBetween(*first_, SampleCpu(names_), names_, TicksPerSecond());
}

std::string CpuTableRow(const std::string& scenario, int scenario_width, const CpuUsage& cpu,
                        const std::function<double(double)>& micros_per_unit) {
    char line[128];
    std::snprintf(line, sizeof line, "  %-*s", scenario_width, scenario.c_str());
    std::string out = line;
    for (const auto& [name, seconds] : cpu.process_seconds) {
        std::snprintf(line, sizeof line, " %15.1f", micros_per_unit(seconds));
        out += line;
    }
    std::snprintf(line, sizeof line, " %9.1f %9.1f %9.1f\n",
                  micros_per_unit(cpu.total_process_seconds()), cpu.busy_share * 100,
                  cpu.steal_share * 100);
    return out + line;
}

}  // namespace bench
