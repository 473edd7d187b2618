#pragma once

#include "comm/comm.h"

namespace personas::testing {
// The world communicator of an MPI test binary (1, 2 or 3 ranks under mpiexec).
Comm& world();
}  // namespace personas::testing
