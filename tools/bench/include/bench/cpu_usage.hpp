#pragma once

// CPU accounting for benchmarks on a shared machine. Throughput on a small virtual machine
// moves with what its neighbours do (the hypervisor "steals" the CPU), so a run also reports
// what it cost: the CPU time the named processes (the service, PostgreSQL, Redis) used per
// transaction, which steal does not inflate, and the machine's busy and steal shares.
//
// Linux only: reads /proc/stat and /proc/<pid>/stat.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bench {

// The machine's "cpu" line of /proc/stat, in clock ticks.
struct MachineTicks {
    std::uint64_t busy = 0;   // user + nice + system + irq + softirq
    std::uint64_t idle = 0;   // idle + iowait
    std::uint64_t steal = 0;  // taken by the hypervisor for other guests
    std::uint64_t total() const { return busy + idle + steal; }
};

// Parses the first line of /proc/stat ("cpu  user nice system idle iowait irq softirq steal
// ..."). nullopt when it is not such a line or has fewer than 8 numbers.
std::optional<MachineTicks> ParseProcStat(std::string_view text);

// One process: its command name (the part in parentheses, which may hold spaces and
// parentheses) and utime + stime, from the text of /proc/<pid>/stat. nullopt when malformed.
struct ProcessTicks {
    std::string comm;
    std::uint64_t cpu = 0;
};
std::optional<ProcessTicks> ParsePidStat(std::string_view text);

struct CpuSample {
    std::chrono::steady_clock::time_point at;
    MachineTicks machine;
    // Summed over every live process whose command name is one of the watched names. A process
    // that exited between two samples takes its ticks with it; the services and PostgreSQL's
    // backends live through a run.
    std::map<std::string, std::uint64_t> processes;
};

// Reads /proc now. Names are compared with the kernel's command name, which is cut to 15
// bytes ("ledger-service", "postgres", "redis-server" fit).
CpuSample SampleCpu(const std::vector<std::string>& names);

struct CpuUsage {
    double window_s = 0;
    double busy_share = 0;   // of the machine's CPU time in the window
    double steal_share = 0;  // ditto
    // CPU seconds each watched name used in the window, in the order asked.
    std::vector<std::pair<std::string, double>> process_seconds;
    double total_process_seconds() const;
};

// later - earlier. Ticks are converted with ticks_per_second (sysconf(_SC_CLK_TCK)). A name
// whose ticks went down (a process exited) counts 0.
CpuUsage CpuBetween(const CpuSample& earlier, const CpuSample& later,
                    const std::vector<std::string>& names, double ticks_per_second);
double TicksPerSecond();

// One row of a report's "CPU per unit" table: the scenario left-aligned in `scenario_width`
// columns after two spaces, then µs per unit for each process, the total, busy % and steal %,
// and a newline. `micros_per_unit` turns CPU seconds of the window into µs per unit of work.
std::string CpuTableRow(const std::string& scenario, int scenario_width, const CpuUsage& cpu,
                        const std::function<double(double)>& micros_per_unit);

// Samples once `delay` after Start (the load's warm-up) and again at Finish, on a thread of
// its own, so a run's CPU is taken over (about) its measured window. Finish before the delay
// has passed takes the first sample then, making the window empty (nullopt).
class CpuWindow {
  public:
    CpuWindow(std::vector<std::string> names, std::chrono::steady_clock::duration delay);
    ~CpuWindow();
    CpuWindow(const CpuWindow&) = delete;
    CpuWindow& operator=(const CpuWindow&) = delete;

    // True once the first sample is taken.
    bool Opened();
    std::optional<CpuUsage> Finish();

  private:
    std::vector<std::string> names_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool finishing_ = false;
    std::optional<CpuSample> first_;
    std::thread thread_;
};

}  // namespace bench
