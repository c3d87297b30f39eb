#pragma once

// Always-on assertion for money invariants and programmer errors. A failure logs the condition
// and location to stderr and aborts: crashing mid-transaction is safe because PostgreSQL rolls
// the transaction back. Never use it for external input; that gets a 4xx.
#define PAY_ASSERT(cond)                                                     \
    do {                                                                     \
        if (!(cond)) [[unlikely]] {                                          \
            ::commons::AssertionFailed(#cond, __FILE__, __LINE__, __func__); \
        }                                                                    \
    } while (false)

// Debug-only assertion for checks too costly for release builds.
#ifdef NDEBUG
#define PAY_DEBUG_ASSERT(cond) \
    do {                       \
    } while (false)
#else
#define PAY_DEBUG_ASSERT(cond) PAY_ASSERT(cond)
#endif

namespace commons {

[[noreturn]] void AssertionFailed(const char* condition, const char* file, int line,
                                  const char* function);

}  // namespace commons
