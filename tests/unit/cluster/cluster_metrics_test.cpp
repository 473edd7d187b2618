#include <gtest/gtest.h>

#include "cluster/cluster_metrics.h"
#include "comm/comm.h"

namespace personas {
namespace {

TEST(AdjustedRandIndex, KnownValues) {
  const std::vector<std::int32_t> a = {0, 0, 1, 1}, same = {1, 1, 0, 0}, split = {0, 1, 0, 1};
  EXPECT_DOUBLE_EQ(adjusted_rand_index(a, same), 1.0);
  // scikit-learn: adjusted_rand_score([0,0,1,1],[0,1,0,1]) = -0.5
  EXPECT_NEAR(adjusted_rand_index(a, split), -0.5, 1e-12);
  // adjusted_rand_score([0,0,0,1,1,1],[0,0,1,1,2,2]) = 0.24242424...
  const std::vector<std::int32_t> c = {0, 0, 0, 1, 1, 1}, e = {0, 0, 1, 1, 2, 2};
  EXPECT_NEAR(adjusted_rand_index(c, e), 0.2424242424242424, 1e-12);
}

TEST(Silhouette, HandComputed) {
  // 1-D points 0, 1 | 10, 11: a = 1 for all; b: 0 -> (10+11)/2 = 10.5, 1 -> 9.5, 10 -> 9.5, 11 -> 10.5
  // s = (10.5-1)/10.5, (9.5-1)/9.5, twice each.
  const std::vector<float> x = {0, 1, 10, 11};
  const std::vector<std::int32_t> l = {0, 0, 1, 1};
  auto comm = make_local_comm();
  const double expected = (2 * (9.5 / 10.5) + 2 * (8.5 / 9.5)) / 4;
  EXPECT_NEAR(silhouette_score(*comm, x, 1, l), expected, 1e-6);
  const std::vector<std::int32_t> one = {0, 0, 0, 0};
  EXPECT_EQ(silhouette_score(*comm, x, 1, one), 0.0);
}

TEST(Kneedle, FindsTheElbow) {
  const std::vector<double> k = {1, 2, 3, 4, 5, 6};
  const std::vector<double> inertia = {100, 40, 12, 10, 9, 8};
  EXPECT_EQ(kneedle_elbow(k, inertia), 2);  // k = 3
  const std::vector<double> line = {6, 5, 4, 3, 2, 1};
  EXPECT_EQ(kneedle_elbow(k, line), -1);
}

}  // namespace
}  // namespace personas
