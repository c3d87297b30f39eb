#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace test_support {

// The value of a variable `tools/devstack env` sets. Integration tests need PostgreSQL and
// Redis: when the variable is missing this throws, which fails the test (never skips it).
inline std::string DevstackVariable(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') {
        throw std::runtime_error(std::string(name) +
                                 " is not set: integration tests need the devstack; run "
                                 "`tools/devstack up && eval \"$(tools/devstack env)\"`");
    }
    return value;
}

inline std::string DatabaseUrl() { return DevstackVariable("PAYMENTS_DATABASE_URL"); }
inline std::string RedisUrl() { return DevstackVariable("PAYMENTS_REDIS_URL"); }

}  // namespace test_support
