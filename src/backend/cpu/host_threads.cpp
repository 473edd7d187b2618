#include "backend/cpu/host_threads.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

namespace personas {

void set_host_threads(int threads) {
  threads = std::max(1, threads);
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

SingleThreadedBlas::SingleThreadedBlas() {
  if (!omp_in_parallel()) {
    previous_ = openblas_get_num_threads();
    openblas_set_num_threads(1);
  }
}

SingleThreadedBlas::~SingleThreadedBlas() {
  if (previous_ > 0) openblas_set_num_threads(previous_);
}

}  // namespace personas
