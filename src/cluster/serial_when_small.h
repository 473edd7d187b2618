// Small steps on the calling thread alone. A parallel region pays a fork and a
// join; on a quiet machine that is microseconds, but when the cores are shared
// (other jobs, or ranks x threads above the cores, normal on shared nodes) the
// join waits for a worker the scheduler has not run yet, and idle OpenMP and
// OpenBLAS workers spin before they sleep, taking the core from the thread
// that has work. Measured (issue 18): auto-K on 2,000 x 64 vectors took 19-21 s
// with 2 threads on a loaded 2-core machine against 1.3 s with one (numbers
// after the fix: docs/clustering.md, "Threads on shared cores"). Below
// kParallelWork multiply-adds per pass the pass is shorter than the scheduler's
// time slice, so threads cannot win much and can lose a lot: one thread.
// The results do not change: every sum in cluster/ is an exact integer sum.
#pragma once

namespace personas {

// Multiply-adds of one pass (e.g. rows x k x d of a k-means assignment) below
// which a pass runs on one thread: about 2 ms on one core.
inline constexpr double kParallelWork = 64.0 * 1024 * 1024;

// While alive (created outside a parallel region): OpenMP regions and OpenBLAS
// calls on one thread when work < kParallelWork (or the env var
// PERSONAS_PARALLEL_WORK, for tuning: 0 = always threaded); the previous
// counts come back after. With more work it does nothing.
class SerialWhenSmall {
 public:
  explicit SerialWhenSmall(double work);
  ~SerialWhenSmall();
  SerialWhenSmall(const SerialWhenSmall&) = delete;
  SerialWhenSmall& operator=(const SerialWhenSmall&) = delete;

 private:
  int omp_threads_ = 0;
  int blas_threads_ = 0;
};

}  // namespace personas
