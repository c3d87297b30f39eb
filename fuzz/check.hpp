#pragma once

// What the fuzz targets assert. A failed check prints the condition and where it is, then
// aborts, which libFuzzer reports as a crash and saves the input that caused it.

#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                        \
    do {                                                        \
        if (!(cond)) [[unlikely]] {                             \
            ::fuzz::CheckFailed(#cond, __FILE__, __LINE__, {}); \
        }                                                       \
    } while (false)

// Like FUZZ_CHECK, with the value that broke it (printed with its length, as it may hold any
// byte).
#define FUZZ_CHECK_WITH(cond, detail)                                 \
    do {                                                              \
        if (!(cond)) [[unlikely]] {                                   \
            ::fuzz::CheckFailed(#cond, __FILE__, __LINE__, (detail)); \
        }                                                             \
    } while (false)

namespace fuzz {

[[noreturn]] inline void CheckFailed(const char* condition, const char* file, int line,
                                     std::string_view detail) {
    std::fprintf(stderr, "fuzz check failed: %s\n  at %s:%d\n", condition, file, line);
    if (!detail.empty()) {
        std::fprintf(stderr, "  detail (%zu bytes): %.*s\n", detail.size(),
                     static_cast<int>(detail.size()), detail.data());
    }
    std::fflush(stderr);
    std::abort();
}

}  // namespace fuzz
