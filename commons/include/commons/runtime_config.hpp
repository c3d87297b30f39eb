#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace prometheus {
template <typename T>
class Family;
class Counter;
}  // namespace prometheus

namespace commons {

class Logger;
class Metrics;

// Settings that may change while the service runs, read from a directory with one file per key
// (the Kubernetes ConfigMap pattern; ConfigMap updates swap a symlink, which reading by name
// follows). A key whose file is absent has its default. A new value that fails validation is
// refused: the old value stays, a warning is logged and
// `runtime_config_reloads_total{result="rejected"}` counts it.
class RuntimeConfig {
  public:
    // Returns an error message for an invalid value, nullopt for a valid one.
    using Validator = std::function<std::optional<std::string>(std::string_view value)>;
    using Listener = std::function<void(const std::string& key, const std::string& value)>;

    struct Key {
        std::string name;
        std::string default_value;
        Validator validate;
    };

    struct ReloadReport {
        int applied = 0;   // keys whose value changed
        int rejected = 0;  // keys whose new value was refused
    };

    // `dir` may be empty: then every key keeps its default. Performs a first Reload().
    RuntimeConfig(std::filesystem::path dir, std::vector<Key> keys, Logger& logger,
                  Metrics& metrics);
    ~RuntimeConfig();
    RuntimeConfig(const RuntimeConfig&) = delete;
    RuntimeConfig& operator=(const RuntimeConfig&) = delete;

    // Precondition: `key` was declared in the constructor.
    std::string Get(std::string_view key) const;

    // Called with each key whose value changed, after the change is visible through Get().
    void OnChange(Listener listener);

    // Re-reads every key's file now. Thread-safe.
    ReloadReport Reload();

    // Starts a background thread calling Reload() every `interval` until destruction.
    void StartWatching(std::chrono::milliseconds interval);

  private:
    struct Entry {
        Key key;
        std::string value;
        std::optional<std::string> last_seen;  // raw file content last read, to report once
    };

    std::filesystem::path dir_;
    Logger& logger_;
    prometheus::Family<prometheus::Counter>& reloads_;
    mutable std::mutex mutex_;
    std::map<std::string, Entry, std::less<>> entries_;
    std::vector<Listener> listeners_;

    std::mutex watch_mutex_;
    std::condition_variable watch_wakeup_;
    bool stopping_ = false;
    std::thread watcher_;
};

}  // namespace commons
