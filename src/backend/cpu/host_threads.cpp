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

}  // namespace personas
