#pragma once

// A redis-server of one test alone, so it can be killed and started again without disturbing
// the devstack's. It keeps nothing on disk: a restart comes back empty, like a lost Redis.

#include <csignal>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "commons/redis.hpp"
#include "support/free_port.hpp"
#include "support/process.hpp"

namespace test_support {

class PrivateRedis {
  public:
    PrivateRedis() : port_(FreePort()) { Start(); }

    void Start() {
        process_.emplace("/usr/bin/redis-server",
                         std::vector<std::string>{"--port", std::to_string(port_), "--bind",
                                                  "127.0.0.1", "--save", "", "--appendonly", "no"},
                         CurrentEnvironment());
        commons::RedisSettings settings;
        settings.url = url();
        settings.connect_timeout = std::chrono::milliseconds(500);
        settings.pool_size = 1;
        commons::RedisClient probe(settings);
        if (!PollUntil(std::chrono::seconds(10), [&] { return probe.Ping().empty(); })) {
            throw std::runtime_error("private redis-server did not answer: " + process_->Output());
        }
    }

    // Kills it (SIGKILL) and waits for it to be gone; false when it did not exit.
    bool Kill() {
        process_->Signal(SIGKILL);
        const bool exited = process_->WaitForExit(std::chrono::seconds(10)).has_value();
        process_.reset();
        return exited;
    }

    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

  private:
    std::uint16_t port_;
    std::optional<ChildProcess> process_;
};

}  // namespace test_support
