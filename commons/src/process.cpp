#include "commons/process.hpp"

#include <pthread.h>

#include <csignal>

#include "commons/assert.hpp"

namespace commons {
namespace {

sigset_t TerminationSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}

}  // namespace

void BlockTerminationSignals() {
    sigset_t set = TerminationSignals();
    PAY_ASSERT(pthread_sigmask(SIG_BLOCK, &set, nullptr) == 0);
}

int WaitForTerminationSignal() {
    sigset_t set = TerminationSignals();
    int signal_number = 0;
    PAY_ASSERT(sigwait(&set, &signal_number) == 0);
    return signal_number;
}

}  // namespace commons
