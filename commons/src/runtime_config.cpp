#include "commons/runtime_config.hpp"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <fstream>
#include <sstream>

#include "commons/assert.hpp"
#include "commons/log.hpp"
#include "commons/metrics.hpp"

namespace commons {
namespace {

// Runtime-config values are short settings; anything larger is a mistake, not a setting.
constexpr std::uintmax_t kValueBytesMax = std::uintmax_t{64} * 1024;

std::optional<std::string> ReadValue(const std::filesystem::path& path, std::string& error) {
    std::error_code code;
    if (!std::filesystem::exists(path, code)) return std::nullopt;
    auto size = std::filesystem::file_size(path, code);
    if (code) {
        error = "cannot stat: " + code.message();
        return std::nullopt;
    }
    if (size > kValueBytesMax) {
        error = "file larger than " + std::to_string(kValueBytesMax) + " bytes";
        return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot open";
        return std::nullopt;
    }
    std::ostringstream content;
    content << in.rdbuf();
    std::string value = content.str();
    while (!value.empty() &&
           (value.back() == '\n' || value.back() == '\r' || value.back() == ' ')) {
        value.pop_back();
    }
    return value;
}

}  // namespace

RuntimeConfig::RuntimeConfig(std::filesystem::path dir, std::vector<Key> keys, Logger& logger,
                             Metrics& metrics)
    : dir_(std::move(dir)),
      logger_(logger),
      reloads_(prometheus::BuildCounter()
                   .Name("runtime_config_reloads_total")
                   .Help("Runtime-config values seen changed, by whether they were applied")
                   .Register(metrics.registry())) {
    for (auto& key : keys) {
        std::string name = key.name;
        std::string value = key.default_value;
        PAY_ASSERT(!key.validate || !key.validate(value).has_value());
        entries_.emplace(name, Entry{std::move(key), std::move(value), std::nullopt});
    }
    Reload();
}

RuntimeConfig::~RuntimeConfig() {
    {
        std::lock_guard lock(watch_mutex_);
        stopping_ = true;
    }
    watch_wakeup_.notify_all();
    if (watcher_.joinable()) watcher_.join();
}

std::string RuntimeConfig::Get(std::string_view key) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    PAY_ASSERT(it != entries_.end());
    return it->second.value;
}

void RuntimeConfig::OnChange(Listener listener) {
    std::lock_guard lock(mutex_);
    listeners_.push_back(std::move(listener));
}

RuntimeConfig::ReloadReport RuntimeConfig::Reload() {
    ReloadReport report;
    if (dir_.empty()) return report;
    std::vector<std::pair<std::string, std::string>> changed;
    std::vector<Listener> listeners;
    {
        std::lock_guard lock(mutex_);
        for (auto& [name, entry] : entries_) {
            std::string read_error;
            auto raw = ReadValue(dir_ / name, read_error);
            if (!read_error.empty()) {
                raw = "<unreadable: " + read_error + ">";
            }
            // A removed file means "back to the default".
            std::string candidate = raw.value_or(entry.key.default_value);
            if (raw == entry.last_seen) continue;  // nothing new since the last look
            entry.last_seen = raw;
            if (candidate == entry.value) continue;
            std::optional<std::string> problem =
                !read_error.empty()
                    ? std::optional<std::string>(read_error)
                    : (entry.key.validate ? entry.key.validate(candidate) : std::nullopt);
            if (problem) {
                ++report.rejected;
                reloads_.Add({{"result", "rejected"}}).Increment();
                logger_.Warn("runtime config value rejected, keeping the previous one",
                             {{"key", name}, {"problem", *problem}, {"kept", entry.value}});
                continue;
            }
            entry.value = candidate;
            ++report.applied;
            reloads_.Add({{"result", "applied"}}).Increment();
            changed.emplace_back(name, candidate);
        }
        listeners = listeners_;
    }
    for (const auto& [name, value] : changed) {
        logger_.Info("runtime config value applied", {{"key", name}, {"value", value}});
        for (const auto& listener : listeners) listener(name, value);
    }
    return report;
}

void RuntimeConfig::StartWatching(std::chrono::milliseconds interval) {
    PAY_ASSERT(!watcher_.joinable());
    if (dir_.empty()) return;
    watcher_ = std::thread([this, interval] {
        std::unique_lock lock(watch_mutex_);
        while (!watch_wakeup_.wait_for(lock, interval, [this] { return stopping_; })) {
            lock.unlock();
            try {
                Reload();
            } catch (const std::exception& error) {
                logger_.Error("runtime config reload failed", {{"error", error.what()}});
            }
            lock.lock();
        }
    });
}

}  // namespace commons
