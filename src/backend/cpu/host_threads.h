// How many host threads one process (rank) computes with: OpenMP and OpenBLAS
// together. OpenBLAS (the pthread build Debian installs) keeps its own pool,
// sized to every core of the node; with several ranks per node that pool
// oversubscribes the cores, and each sgemm then waits for worker threads that
// the scheduler has not run yet (measured: a process got 10% of a core on a
// loaded 2-core machine). Both are set to the same count.
#pragma once

namespace personas {

void set_host_threads(int threads);

}  // namespace personas
