#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace commons {

// Where configuration values come from. The process environment in production; a map in tests.
class Environment {
  public:
    virtual ~Environment() = default;
    virtual std::optional<std::string> Get(std::string_view name) const = 0;
};

class ProcessEnvironment final : public Environment {
  public:
    std::optional<std::string> Get(std::string_view name) const override;
};

class MapEnvironment final : public Environment {
  public:
    MapEnvironment() = default;
    explicit MapEnvironment(std::map<std::string, std::string, std::less<>> values)
        : values_(std::move(values)) {}
    void Set(std::string name, std::string value) { values_[std::move(name)] = std::move(value); }
    std::optional<std::string> Get(std::string_view name) const override;

  private:
    std::map<std::string, std::string, std::less<>> values_;
};

// A missing or malformed configuration value. what() is one line that names the variable and
// says what was wrong, e.g. `PAYMENTS_DB_POOL_SIZE: expected an integer from 1 to 1000, got "x"`.
class ConfigError : public std::runtime_error {
  public:
    ConfigError(std::string variable, const std::string& problem);
    const std::string& variable() const { return variable_; }

  private:
    std::string variable_;
};

// Typed reading of environment variables. Every method throws ConfigError for a malformed
// value; the `Required*` ones also for a missing or empty one. An empty value counts as unset.
class EnvReader {
  public:
    explicit EnvReader(const Environment& env) : env_(env) {}

    std::optional<std::string> Find(std::string_view name) const;
    std::string RequiredString(std::string_view name) const;
    std::string String(std::string_view name, std::string_view fallback) const;
    std::int64_t Int(std::string_view name, std::int64_t fallback, std::int64_t min,
                     std::int64_t max) const;
    std::uint16_t Port(std::string_view name, std::uint16_t fallback) const;
    bool Bool(std::string_view name, bool fallback) const;
    // Durations are an integer with a unit: "250ms", "5s", "2m", "1h".
    std::chrono::milliseconds Duration(std::string_view name, std::chrono::milliseconds fallback,
                                       std::chrono::milliseconds min,
                                       std::chrono::milliseconds max) const;

  private:
    const Environment& env_;
};

// Parses "250ms", "5s", "2m", "1h" into milliseconds; nullopt when malformed or overflowing.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Replaces the password of a URL's user-info with "***" so the URL can be logged.
std::string RedactUrl(std::string_view url);

}  // namespace commons
