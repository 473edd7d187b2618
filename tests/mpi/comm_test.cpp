// Collectives with rank-dependent inputs whose results are known exactly.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "mpi/mpi_test_env.h"

namespace personas {
namespace {

TEST(MpiComm, AllreduceSumMaxMinAreExact) {
  auto& comm = testing::world();
  const int p = comm.size(), r = comm.rank();
  std::vector<std::int64_t> v{r, 1, -r};
  comm.allreduce(std::span<std::int64_t>(v), ReduceOp::sum);
  EXPECT_EQ(v[0], std::int64_t(p) * (p - 1) / 2);
  EXPECT_EQ(v[1], p);
  std::vector<double> d{double(r)};
  comm.allreduce(std::span<double>(d), ReduceOp::max);
  EXPECT_EQ(d[0], p - 1);
  std::vector<float> f{float(r + 1)};
  comm.allreduce(std::span<float>(f), ReduceOp::min);
  EXPECT_EQ(f[0], 1.0f);
}

TEST(MpiComm, BroadcastAndAllgatherv) {
  auto& comm = testing::world();
  std::string text = comm.is_root() ? "from root" : "";
  comm.broadcast_string(text, 0);
  EXPECT_EQ(text, "from root");
  // Rank r sends r+1 bytes of value r.
  std::vector<std::byte> mine(comm.rank() + 1, std::byte(comm.rank()));
  auto all = comm.allgatherv(mine);
  ASSERT_EQ(int(all.size()), comm.size());
  for (int r = 0; r < comm.size(); ++r) {
    EXPECT_EQ(all[r].size(), std::size_t(r + 1));
    for (auto b : all[r]) EXPECT_EQ(b, std::byte(r));
  }
}

TEST(MpiComm, AlltoallvRoutesEveryBlock) {
  auto& comm = testing::world();
  std::vector<std::vector<std::byte>> send(comm.size());
  for (int dst = 0; dst < comm.size(); ++dst) send[dst].assign(dst + 1, std::byte(comm.rank() * 10 + dst));
  auto got = comm.alltoallv(send);
  for (int src = 0; src < comm.size(); ++src) {
    ASSERT_EQ(got[src].size(), std::size_t(comm.rank() + 1));
    EXPECT_EQ(got[src][0], std::byte(src * 10 + comm.rank()));
  }
}

TEST(MpiComm, SplitMakesGroups) {
  auto& comm = testing::world();
  auto group = comm.split(comm.rank() % 2, comm.rank());
  EXPECT_EQ(group->size(), (comm.size() + 1 - comm.rank() % 2) / 2);
  double one = group->allreduce_sum(1.0);
  EXPECT_EQ(one, group->size());
}

}  // namespace
}  // namespace personas
