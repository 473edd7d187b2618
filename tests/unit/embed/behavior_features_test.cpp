// Behaviour features (embed/behavior_features.h) on a small hand-built data set.
#include <gtest/gtest.h>

#include <cmath>

#include "comm/comm.h"
#include "embed/behavior_features.h"

namespace personas {
namespace {

// Two genres; items 0,1 are genre A, items 2,3 genre B. Item means are 3.
// User 0 rates A high and B low, user 1 the reverse, user 2 only A, all 4s,
// user 3 nothing in training.
Dataset tiny_dataset() {
  Dataset ds;
  ds.genre_names = {"A", "B"};
  for (int i = 0; i < 4; ++i) {
    Item it;
    it.id = i + 1;
    it.genres = i < 2 ? 1u : 2u;
    it.train_mean = 3.0;
    ds.items.push_back(it);
  }
  auto add_user = [&](std::vector<std::pair<int, float>> ratings) {
    User u;
    u.id = static_cast<std::int64_t>(ds.users.size()) + 1;
    u.first = static_cast<std::int64_t>(ds.interactions.size());
    u.n_train = static_cast<std::int32_t>(ratings.size());
    for (auto [item, r] : ratings) ds.interactions.push_back(Interaction{item, r, 0});
    ds.users.push_back(u);
  };
  add_user({{0, 5}, {1, 5}, {2, 1}, {3, 1}});
  add_user({{0, 1}, {1, 1}, {2, 5}, {3, 5}});
  add_user({{0, 4}, {1, 4}});
  add_user({});
  ds.n_users_total = 4;
  return ds;
}

TEST(BehaviorFeatures, ShapeCentringAndBlockScales) {
  const Dataset ds = tiny_dataset();
  auto comm = make_local_comm();
  const int d = behavior_dim(ds);
  ASSERT_EQ(d, 6);  // offsets(2), shares(2), generosity, activity
  const auto x = behavior_features(ds, *comm);
  ASSERT_EQ(x.size(), 4u * 6u);
  for (float v : x) EXPECT_TRUE(std::isfinite(v));
  // Every column is centred over the users.
  for (int t = 0; t < d; ++t) {
    double mean = 0;
    for (int i = 0; i < 4; ++i) mean += x[static_cast<std::size_t>(i * d + t)];
    EXPECT_NEAR(mean / 4, 0.0, 1e-6) << "column " << t;
  }
  // Summed variance per block: 0.45 (offsets), 0.45 (shares), 0.05, 0.05.
  auto block_var = [&](int b, int e) {
    double s = 0;
    for (int t = b; t < e; ++t)
      for (int i = 0; i < 4; ++i) s += x[static_cast<std::size_t>(i * d + t)] * x[static_cast<std::size_t>(i * d + t)];
    return s / 4;
  };
  EXPECT_NEAR(block_var(0, 2), 0.45, 1e-5);
  EXPECT_NEAR(block_var(2, 4), 0.45, 1e-5);
  EXPECT_NEAR(block_var(4, 5), 0.05, 1e-5);
  EXPECT_NEAR(block_var(5, 6), 0.05, 1e-5);
}

TEST(BehaviorFeatures, OffsetsAreRelativeToTheUsersGenerosity) {
  const Dataset ds = tiny_dataset();
  auto comm = make_local_comm();
  const int d = behavior_dim(ds);
  const auto x = behavior_features(ds, *comm);
  auto at = [&](int user, int col) { return x[static_cast<std::size_t>(user * d + col)]; };
  // Users 0 and 1 are mirror images in taste (A vs B) with the same generosity.
  EXPECT_GT(at(0, 0), at(1, 0));
  EXPECT_LT(at(0, 1), at(1, 1));
  EXPECT_NEAR(at(0, 0) - at(1, 0), at(1, 1) - at(0, 1), 1e-5);
  EXPECT_NEAR(at(0, 4), at(1, 4), 1e-6);  // same generosity (0)
  // User 2 rates everything it sees one above the mean: generous, but no taste
  // offset (its A offset equals that of the user without ratings).
  EXPECT_GT(at(2, 4), at(0, 4));
  EXPECT_NEAR(at(2, 0), at(3, 0), 1e-6);
  // User 2 rates only A: its A share is above users 0 and 1.
  EXPECT_GT(at(2, 2), at(0, 2));
  EXPECT_LT(at(2, 3), at(0, 3));
  // Activity: users with 4 ratings above the one with 2, above the one with 0.
  EXPECT_GT(at(0, 5), at(2, 5));
  EXPECT_GT(at(2, 5), at(3, 5));
}

TEST(BehaviorFeatures, Deterministic) {
  const Dataset ds = tiny_dataset();
  auto comm = make_local_comm();
  EXPECT_EQ(behavior_features(ds, *comm), behavior_features(ds, *comm));
}

}  // namespace
}  // namespace personas
