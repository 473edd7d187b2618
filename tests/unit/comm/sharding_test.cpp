#include "comm/sharding.h"

#include <gtest/gtest.h>

#include "comm/comm.h"

namespace personas {
namespace {

TEST(Sharding, BlocksCoverEveryIndexOnceInOrder) {
  for (std::int64_t n : {0, 1, 2, 7, 100, 1001}) {
    for (int ranks : {1, 2, 3, 7}) {
      std::int64_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        auto [b, e] = block_range(n, r, ranks);
        EXPECT_EQ(b, next);
        EXPECT_LE(e - b, n / ranks + 1);
        for (auto i = b; i < e; ++i) EXPECT_EQ(block_owner(i, n, ranks), r);
        next = e;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(LocalComm, CollectivesAreIdentities) {
  auto comm = make_local_comm();
  EXPECT_EQ(comm->size(), 1);
  EXPECT_DOUBLE_EQ(comm->allreduce_sum(2.5), 2.5);
  std::string s = "x";
  comm->broadcast_string(s, 0);
  EXPECT_EQ(s, "x");
  std::vector<std::byte> bytes{std::byte{1}, std::byte{2}};
  auto all = comm->allgatherv(bytes);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], bytes);
}

}  // namespace
}  // namespace personas
