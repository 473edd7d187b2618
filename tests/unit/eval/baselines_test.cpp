// Classical baselines: exact small cases, fallbacks, recovery of a known
// model, and the ML-100K sanity bounds (skipped without ../shared/data).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "comm/comm.h"
#include "core/errors.h"
#include "eval/baselines.h"
#include "support/test_support.h"
#include "unit/eval/eval_test_data.h"

namespace personas {
namespace {

// Two users, three items; user 1's last rating (item 2) is unseen in training.
Dataset tiny() {
  Dataset d;
  d.source = "tiny";
  for (int i = 0; i < 3; ++i) {
    Item it;
    it.id = 7 + i;
    d.items.push_back(it);
  }
  d.n_users_total = 3;
  auto add = [&](std::int64_t id, std::vector<std::pair<int, float>> train, std::vector<std::pair<int, float>> test) {
    User u;
    u.id = id;
    u.first = std::int64_t(d.interactions.size());
    for (auto [i, r] : train) d.interactions.push_back({i, r, 0});
    for (auto [i, r] : test) d.interactions.push_back({i, r, 0});
    u.n_train = int(train.size());
    u.n_test = int(test.size());
    d.users.push_back(u);
  };
  add(1, {{0, 5}, {1, 3}}, {{2, 4}});
  add(2, {{0, 4}, {1, 1}, {0, 5}}, {{2, 2}});
  add(3, {}, {{0, 3}});  // no training ratings
  return d;
}

double test_rmse(const Baseline& b, const Dataset& d) {
  double sq = 0;
  int n = 0;
  for (const auto& r : predict_test_period(b, d, {})) {
    sq += (r.predicted - r.truth) * (r.predicted - r.truth);
    ++n;
  }
  return std::sqrt(sq / n);
}

TEST(EvalBaselines, MeansAndFallbacks) {
  auto comm = make_local_comm();
  const auto d = tiny();
  EvalConfig c;
  auto global = make_baseline("global_mean", c, 1);
  global->fit(d, *comm);
  EXPECT_DOUBLE_EQ(global->predict(0, 2), 18.0 / 5.0);
  auto user = make_baseline("user_mean", c, 1);
  user->fit(d, *comm);
  EXPECT_DOUBLE_EQ(user->predict(0, 2), 4.0);
  EXPECT_DOUBLE_EQ(user->predict(1, 2), 10.0 / 3.0);
  EXPECT_DOUBLE_EQ(user->predict(2, 0), 18.0 / 5.0);  // no training: global mean
  auto item = make_baseline("item_mean", c, 1);
  item->fit(d, *comm);
  EXPECT_DOUBLE_EQ(item->predict(2, 0), 14.0 / 3.0);
  EXPECT_DOUBLE_EQ(item->predict(0, 1), 2.0);
  EXPECT_DOUBLE_EQ(item->predict(0, 2), 18.0 / 5.0);  // unseen item: global mean
  const auto records = predict_test_period(*item, d, std::vector<std::int32_t>{0, 1, 1});
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].item_id, 9);
  EXPECT_EQ(records[0].user_id, 1);
  EXPECT_EQ(records[2].persona, 1);
  EXPECT_EQ(records[2].truth, 3.0f);
}

TEST(EvalBaselines, BiasWithoutRegularisationFitsAnAdditiveModel) {
  // Ratings exactly mu + b_u + b_i on a full matrix: unregularised alternating
  // passes converge to a zero-error fit.
  Dataset d;
  const int n_users = 6, n_items = 5;
  const double bu[n_users] = {-0.5, 0.25, 0, 0.5, -0.25, 0.75};
  const double bi[n_items] = {0.5, -0.5, 0, 0.25, -0.75};
  for (int i = 0; i < n_items; ++i) d.items.push_back(Item{i, "", 0, 0, 0, 0});
  d.n_users_total = n_users;
  for (int u = 0; u < n_users; ++u) {
    User user;
    user.id = u;
    user.first = std::int64_t(d.interactions.size());
    const int held_out = u % n_items;  // every item stays in some user's training period
    for (int k = 1; k <= n_items; ++k) {
      const int i = (held_out + k) % n_items;
      d.interactions.push_back({i, float(3 + bu[u] + bi[i]), 0});
    }
    user.n_train = n_items - 1;  // the last one (held_out) is the test period
    user.n_test = 1;
    d.users.push_back(user);
  }
  EvalConfig c;
  c.bias_reg_user = c.bias_reg_item = 0;
  c.bias_iterations = 200;
  auto comm = make_local_comm();
  auto b = make_baseline("bias", c, 1);
  b->fit(d, *comm);
  EXPECT_LT(training_rmse(*b, d, *comm), 1e-6);
  EXPECT_LT(test_rmse(*b, d), 1e-6);
}

TEST(EvalBaselines, FactorModelsBeatBiasOnLowRankData) {
  const auto d = testing::make_model_ratings(300, 120, 60, 42);
  auto comm = make_local_comm();
  EvalConfig c;
  c.mf_factors = 10;
  c.mf_epochs = 40;
  c.mf_lr = 0.01;
  c.als_factors = 4;
  c.als_iterations = 10;
  c.als_reg = 0.05;
  std::map<std::string, double> rmse;
  for (const auto& name : known_baselines()) {
    auto b = make_baseline(name, c, 5);
    b->fit(d, *comm);
    rmse[name] = test_rmse(*b, d);
    std::printf("  %-12s test RMSE %.4f  train RMSE %.4f\n", name.c_str(), rmse[name], training_rmse(*b, d, *comm));
  }
  EXPECT_LT(rmse["bias"], rmse["user_mean"]);
  EXPECT_LT(rmse["bias"], rmse["item_mean"]);
  EXPECT_LT(rmse["user_mean"], rmse["global_mean"]);
  EXPECT_LT(rmse["mf_sgd"], rmse["bias"] - 0.05);
  EXPECT_LT(rmse["mf_als"], rmse["bias"] - 0.05);
}

TEST(EvalBaselines, SeededModelsAreReproducible) {
  const auto d = testing::make_model_ratings(60, 40, 20, 3);
  auto comm = make_local_comm();
  EvalConfig c;
  c.mf_factors = 8;
  for (const std::string name : {"mf_sgd", "mf_als"}) {
    auto a = make_baseline(name, c, 11), b = make_baseline(name, c, 11), other = make_baseline(name, c, 12);
    a->fit(d, *comm);
    b->fit(d, *comm);
    other->fit(d, *comm);
    EXPECT_EQ(a->predict(3, 5), b->predict(3, 5)) << name;
    EXPECT_NE(a->predict(3, 5), other->predict(3, 5)) << name;
  }
}

TEST(EvalBaselines, ExactSumsDoNotDependOnOrder) {
  ExactSums a(1), b(1);
  const double terms[] = {1e8, 0.1, -1e8, 0.2, 1e-9, 0.3};
  for (double t : terms) a.add(0, t);
  for (int k = 5; k >= 0; --k) b.add(0, terms[k]);
  EXPECT_EQ(a.value(0), b.value(0));
  EXPECT_NEAR(a.value(0), 0.6 + 1e-9, 1e-9);  // each term rounded to 2^-32
}

// Totals far beyond an int64 of 2^-32 units (2^31) stay exact, through the
// limb split of the allreduce too, and negative totals survive it.
TEST(EvalBaselines, ExactSumsHoldLargeTotalsThroughTheAllreduce) {
  auto comm = make_local_comm();
  ExactSums s(3);
  for (int k = 0; k < 1000; ++k) {
    s.add(0, 9e8);
    s.add(1, -9e8 - 0.25);
  }
  s.add_fixed(2, ExactSums::to_fixed(0.5), 7);
  s.allreduce(*comm);
  EXPECT_EQ(s.value(0), 9e11);
  EXPECT_EQ(s.value(1), -9e11 - 250);
  EXPECT_EQ(s.value(2), 3.5);
}

TEST(EvalBaselines, UnknownNameFails) {
  EXPECT_THROW(make_baseline("svd++", EvalConfig{}, 1), Error);
}

// ML-100K with a per-user random 80/20 split of every user: the published
// figures for this protocol are about 0.94-0.95 (bias) and 0.93-0.94 (SVD).
TEST(EvalBaselines, MovieLens100kSanityBounds) {
  PERSONAS_REQUIRE_DATA(path, "ml-100k/u.data");
  std::ifstream in(path);
  std::map<std::int64_t, std::vector<Interaction>> by_user;
  std::int64_t user = 0, item = 0, ts = 0;
  int rating = 0;
  int max_item = 0;
  while (in >> user >> item >> rating >> ts) {
    by_user[user].push_back({std::int32_t(item - 1), float(rating), ts});
    max_item = std::max(max_item, int(item));
  }
  Dataset d;
  d.source = "ml100k";
  for (int i = 1; i <= max_item; ++i) d.items.push_back(Item{i, "", 0, 0, 0, 0});
  SplitMix64 rng(2024);
  for (auto& [id, xs] : by_user) {
    for (std::size_t n = xs.size(); n > 1; --n) std::swap(xs[n - 1], xs[rng.below(n)]);
    User u;
    u.id = id;
    u.first = std::int64_t(d.interactions.size());
    u.n_train = int(std::lround(0.8 * double(xs.size())));
    u.n_test = int(xs.size()) - u.n_train;
    d.interactions.insert(d.interactions.end(), xs.begin(), xs.end());
    d.users.push_back(u);
  }
  d.n_users_total = std::int64_t(d.users.size());
  ASSERT_EQ(d.interactions.size(), 100000u);
  auto comm = make_local_comm();
  EvalConfig c;  // the documented defaults
  std::map<std::string, double> rmse;
  for (const auto& name : known_baselines()) {
    auto b = make_baseline(name, c, 1234);
    b->fit(d, *comm);
    rmse[name] = test_rmse(*b, d);
    std::printf("  ML-100K random 80/20: %-12s RMSE %.4f\n", name.c_str(), rmse[name]);
  }
  EXPECT_GT(rmse["bias"], 0.92);
  EXPECT_LT(rmse["bias"], 0.97);
  EXPECT_GT(rmse["mf_sgd"], 0.88);
  EXPECT_LT(rmse["mf_sgd"], 0.96);
  EXPECT_GT(rmse["mf_als"], 0.88);
  EXPECT_LT(rmse["mf_als"], 0.96);
  EXPECT_LT(rmse["mf_sgd"], rmse["bias"]);
  EXPECT_LT(rmse["global_mean"], 1.2);
}

}  // namespace
}  // namespace personas
