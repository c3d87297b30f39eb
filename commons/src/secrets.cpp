#include "commons/secrets.hpp"

#include <fstream>
#include <iterator>
#include <ostream>

#include "commons/assert.hpp"

namespace commons {

std::ostream& operator<<(std::ostream& out, const Secret&) { return out << Secret::Redacted(); }

SecretStore::SecretStore(std::optional<std::filesystem::path> dir,
                         std::shared_ptr<const Environment> env)
    : dir_(std::move(dir)), env_(std::move(env)) {
    PAY_ASSERT(env_ != nullptr);
}

std::string SecretStore::EnvironmentName(std::string_view name) {
    std::string out = "PAYMENTS_";
    for (char c : name) {
        if (c == '-' || c == '.') {
            out.push_back('_');
        } else if (c >= 'a' && c <= 'z') {
            out.push_back(static_cast<char>(c - 'a' + 'A'));
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::optional<Secret> SecretStore::Find(std::string_view name) const {
    if (dir_) {
        std::filesystem::path path = *dir_ / std::string(name);
        std::error_code error;
        if (std::filesystem::exists(path, error)) {
            if (!std::filesystem::is_regular_file(path, error)) {
                throw ConfigError(path.string(), "secret exists but is not a regular file");
            }
            std::ifstream in(path, std::ios::binary);
            if (!in) throw ConfigError(path.string(), "secret file exists but cannot be read");
            std::string value{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
            if (in.bad()) throw ConfigError(path.string(), "secret file could not be read");
            if (!value.empty() && value.back() == '\n') value.pop_back();
            if (!value.empty() && value.back() == '\r') value.pop_back();
            return Secret(std::move(value));
        }
    }
    auto value = env_->Get(EnvironmentName(name));
    // An empty variable counts as unset, as everywhere else in configuration.
    if (!value || value->empty()) return std::nullopt;
    return Secret(std::move(*value));
}

Secret SecretStore::Required(std::string_view name) const {
    auto secret = Find(name);
    if (!secret) {
        std::string where = dir_ ? "no file " + (*dir_ / std::string(name)).string() + " and " : "";
        throw ConfigError(
            EnvironmentName(name),
            "secret \"" + std::string(name) + "\" is missing (" + where + "variable not set)");
    }
    return *secret;
}

}  // namespace commons
