#include "cluster/serial_when_small.h"

#include <cblas.h>
#include <omp.h>

#include <cstdlib>

namespace personas {

namespace {
double parallel_work() {
  static const double value = [] {
    const char* v = std::getenv("PERSONAS_PARALLEL_WORK");
    return v ? std::atof(v) : kParallelWork;
  }();
  return value;
}
}  // namespace

SerialWhenSmall::SerialWhenSmall(double work) {
  if (work >= parallel_work() || omp_in_parallel()) return;
  omp_threads_ = omp_get_max_threads();
  blas_threads_ = openblas_get_num_threads();
  omp_set_num_threads(1);
  openblas_set_num_threads(1);
}

SerialWhenSmall::~SerialWhenSmall() {
  if (omp_threads_ > 0) omp_set_num_threads(omp_threads_);
  if (blas_threads_ > 0) openblas_set_num_threads(blas_threads_);
}

}  // namespace personas
