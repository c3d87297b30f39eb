#pragma once

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace commons {

// Owns the Prometheus registry of one process. Components register their families on it
// through registry(); the HTTP server's /metrics route calls Serialize().
class Metrics {
  public:
    Metrics();
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    prometheus::Registry& registry() { return *registry_; }
    // The Prometheus text exposition format (version 0.0.4) of every registered family.
    std::string Serialize() const;

    static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  private:
    std::shared_ptr<prometheus::Registry> registry_;
};

}  // namespace commons
