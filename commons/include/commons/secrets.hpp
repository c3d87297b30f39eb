#pragma once

#include <concepts>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "commons/config.hpp"

namespace commons {

// A secret value. It prints as "***" through operator<< and Redacted(); the value itself is
// only reachable through Reveal(), which makes every use of it easy to find in review.
class Secret {
  public:
    explicit Secret(std::string value) : value_(std::move(value)) {}

    const std::string& Reveal() const { return value_; }
    bool empty() const { return value_.empty(); }
    static constexpr std::string_view Redacted() { return "***"; }

    friend std::ostream& operator<<(std::ostream& out, const Secret& secret);

  private:
    std::string value_;
};

// Reads named secrets from a mounted directory (a Kubernetes Secret: one file per name) or,
// when the directory has no such file, from the environment variable PAYMENTS_<NAME>, where
// the name is upper-cased and '-' becomes '_' ("api-keys" -> PAYMENTS_API_KEYS).
// Files are read on every call, so a rotated secret is seen without a restart.
// The store owns the environment it reads from (a copy of the one it is given), so it never
// reads through a reference to an object that has gone, whatever the caller passed.
class SecretStore {
  public:
    SecretStore(std::optional<std::filesystem::path> dir, std::shared_ptr<const Environment> env);
    template <std::derived_from<Environment> Env>
    SecretStore(std::optional<std::filesystem::path> dir, Env env)
        : SecretStore(std::move(dir), std::make_shared<const Env>(std::move(env))) {}

    // nullopt when neither the file nor the variable exists. A file's single trailing newline
    // is dropped. Throws ConfigError when the file exists but cannot be read.
    std::optional<Secret> Find(std::string_view name) const;
    // Like Find, but a missing secret is a ConfigError naming both places looked at.
    Secret Required(std::string_view name) const;

    const std::optional<std::filesystem::path>& dir() const { return dir_; }
    static std::string EnvironmentName(std::string_view name);

  private:
    std::optional<std::filesystem::path> dir_;
    std::shared_ptr<const Environment> env_;
};

}  // namespace commons
