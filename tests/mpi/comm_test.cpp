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
  const std::int64_t triangle = std::int64_t(p) * (p - 1) / 2;
  std::vector<std::int64_t> v{r, 1, -r, std::int64_t(r) * r};
  comm.allreduce(std::span<std::int64_t>(v), ReduceOp::sum);
  EXPECT_EQ(v, (std::vector<std::int64_t>{triangle, p, -triangle, std::int64_t(p - 1) * p * (2 * p - 1) / 6}));
  // Every element, each with its own extreme on a different rank.
  std::vector<double> d{double(r), -double(r), 7.0};
  comm.allreduce(std::span<double>(d), ReduceOp::max);
  EXPECT_EQ(d, (std::vector<double>{double(p - 1), 0.0, 7.0}));
  std::vector<float> f{float(r + 1), -float(r), 2.5f};
  comm.allreduce(std::span<float>(f), ReduceOp::min);
  EXPECT_EQ(f, (std::vector<float>{1.0f, -float(p - 1), 2.5f}));
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
  // Byte i of the block from src to dst is src*10 + dst + i: a block that
  // lands at the wrong rank, in the wrong slot or shifted fails.
  auto expected_byte = [](int src, int dst, std::size_t i) { return std::byte(src * 10 + dst + int(i)); };
  for (int dst = 0; dst < comm.size(); ++dst) {
    send[dst].resize(dst + 1);
    for (std::size_t i = 0; i < send[dst].size(); ++i) send[dst][i] = expected_byte(comm.rank(), dst, i);
  }
  auto got = comm.alltoallv(send);
  ASSERT_EQ(int(got.size()), comm.size());
  for (int src = 0; src < comm.size(); ++src) {
    ASSERT_EQ(got[src].size(), std::size_t(comm.rank() + 1));
    for (std::size_t i = 0; i < got[src].size(); ++i)
      EXPECT_EQ(got[src][i], expected_byte(src, comm.rank(), i)) << "from " << src << " byte " << i;
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
