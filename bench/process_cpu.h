// CPU seconds (user + system, every thread) this process has used so far: on a
// shared machine the steadier figure next to wall time.
#pragma once

#include <sys/resource.h>

inline double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
