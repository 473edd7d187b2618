// main() for the MPI tests: MPI is initialised once for the whole binary, and
// only rank 0 prints GoogleTest's report. The exit code is the OR over ranks,
// so a failure on any rank fails the test.
#include <gtest/gtest.h>

#include "comm/comm.h"
#include "mpi/mpi_test_env.h"

namespace personas::testing {
namespace {
std::unique_ptr<Comm> g_world;
}
Comm& world() { return *g_world; }
}  // namespace personas::testing

int main(int argc, char** argv) {
  personas::testing::g_world = personas::make_world_comm(&argc, &argv, /*force_mpi=*/true);
  ::testing::InitGoogleTest(&argc, argv);
  auto& comm = personas::testing::world();
  if (comm.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  std::int64_t any = failed;
  any = comm.allreduce_sum(any);
  personas::testing::g_world.reset();
  return any ? 1 : 0;
}
