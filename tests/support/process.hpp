#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace test_support {

// A child process with its stdout and stderr captured to a temporary file. The destructor
// kills it if still running, so a failing test never leaves a server behind.
class ChildProcess {
  public:
    // Starts `program args...` with exactly `environment` (no inheritance).
    ChildProcess(const std::string& program, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& environment);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    void Signal(int signal_number);
    // The exit status (or 128 + signal) once it exits, nullopt if it still runs at the deadline.
    std::optional<int> WaitForExit(std::chrono::milliseconds timeout);
    std::string Output() const;  // stdout and stderr so far
    pid_t pid() const { return pid_; }

  private:
    pid_t pid_ = -1;
    std::string output_path_;
    std::optional<int> status_;
};

// The current process environment as a map (to copy and then adjust for a child).
std::map<std::string, std::string> CurrentEnvironment();

// Polls `condition` every few milliseconds until it holds or `timeout` passes.
template <typename Condition>
bool PollUntil(std::chrono::milliseconds timeout, Condition condition);

}  // namespace test_support

#include <thread>

template <typename Condition>
bool test_support::PollUntil(std::chrono::milliseconds timeout, Condition condition) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return condition();
}
