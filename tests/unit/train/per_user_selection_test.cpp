#include "train/per_user_selection.h"

#include <gtest/gtest.h>

using namespace personas;

TEST(PerUserSelection, EveryUserWithoutACap) {
  const std::vector<std::int64_t> n = {5, 9, 1};
  EXPECT_EQ(per_user_adapter_users(n, 0), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(per_user_adapter_users(n, 3), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(per_user_adapter_users(n, 7), (std::vector<std::int64_t>{0, 1, 2}));
}

TEST(PerUserSelection, TheMostRatedInSelectionOrderTiesToTheEarlierUser) {
  //                                  0  1   2  3   4  5
  const std::vector<std::int64_t> n = {4, 10, 7, 10, 2, 7};
  EXPECT_EQ(per_user_adapter_users(n, 1), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(per_user_adapter_users(n, 2), (std::vector<std::int64_t>{1, 3}));
  // 7 twice: user 2 comes before user 5.
  EXPECT_EQ(per_user_adapter_users(n, 3), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(per_user_adapter_users(n, 4), (std::vector<std::int64_t>{1, 2, 3, 5}));
}

TEST(PerUserSelection, NoUsers) { EXPECT_TRUE(per_user_adapter_users({}, 3).empty()); }
TEST(PerUserSelection, CountIsTheChosenSize) {
  EXPECT_EQ(per_user_adapter_count(6, 0), 6);
  EXPECT_EQ(per_user_adapter_count(6, 4), 4);
  EXPECT_EQ(per_user_adapter_count(6, 9), 6);
  const std::vector<std::int64_t> n = {4, 10, 7, 10, 2, 7};
  for (std::int64_t top : {0, 1, 3, 6, 8})
    EXPECT_EQ(static_cast<std::int64_t>(per_user_adapter_users(n, top).size()), per_user_adapter_count(6, top)) << top;
}
