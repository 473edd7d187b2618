#include "backend/cpu/host_threads.h"

#include <cblas.h>
#include <gtest/gtest.h>
#include <omp.h>

using namespace personas;

// OpenBLAS keeps its own pool: a rank's thread count must reach it too, and a
// SingleThreadedBlas scope must bring the count back afterwards.
TEST(HostThreads, OpenMpAndOpenBlasTogether) {
  set_host_threads(2);
  EXPECT_EQ(omp_get_max_threads(), 2);
  EXPECT_EQ(openblas_get_num_threads(), 2);
  {
    const SingleThreadedBlas one;
    EXPECT_EQ(openblas_get_num_threads(), 1);
  }
  EXPECT_EQ(openblas_get_num_threads(), 2);
  set_host_threads(1);
  EXPECT_EQ(openblas_get_num_threads(), 1);
}
