#pragma once

namespace commons {

// Blocks SIGTERM and SIGINT in the calling thread and every thread it creates afterwards, so
// they are delivered only to WaitForTerminationSignal(). Call first thing in main().
void BlockTerminationSignals();

// Waits until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForTerminationSignal();

}  // namespace commons
