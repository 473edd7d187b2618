// How many host threads one process (rank) computes with: OpenMP and OpenBLAS
// together. OpenBLAS (the pthread build Debian installs) keeps its own pool,
// sized to every core of the node; with several ranks per node that pool
// oversubscribes the cores, and each sgemm then waits for worker threads that
// the scheduler has not run yet (measured: a process got 10% of a core on a
// loaded 2-core machine). Both are set to the same count.
#pragma once

namespace personas {

void set_host_threads(int threads);

// While alive (created outside an OpenMP parallel region): one OpenBLAS
// thread, for BLAS called from inside our own OpenMP threads, which would
// otherwise each start the whole pool; the previous count comes back after.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace personas
