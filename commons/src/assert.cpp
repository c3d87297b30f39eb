#include "commons/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace commons {

void AssertionFailed(const char* condition, const char* file, int line, const char* function) {
    std::fprintf(stderr,
                 "{\"level\":\"fatal\",\"msg\":\"assertion failed\",\"condition\":\"%s\","
                 "\"file\":\"%s\",\"line\":%d,\"function\":\"%s\"}\n",
                 condition, file, line, function);
    std::fflush(stderr);
    std::abort();
}

}  // namespace commons
