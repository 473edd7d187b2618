#include "cli/omp_wait_policy.h"

#include <unistd.h>

#include <cstdlib>

namespace personas {

namespace {
constexpr const char* kMarker = "PERSONAS_SET_OMP_WAIT_POLICY";
}

void ensure_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (std::getenv(kMarker) != nullptr) return;  // set and re-executed already: never loop
  if (::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0 || ::setenv(kMarker, "1", 1) != 0) return;
  // The binary's real path, not /proc/self/exe: the process name (ps, pkill,
  // /proc/PID/comm) stays "personas".
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return;
  self[n] = '\0';
  ::execv(self, argv);
  // exec failed (no /proc): go on with the policy the runtime already read.
}

const char* omp_wait_policy_origin() {
  return std::getenv(kMarker) != nullptr ? "set by personas (threads sleep while they wait)" : "from the environment";
}

}  // namespace personas
