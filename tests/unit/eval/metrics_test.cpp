// Metrics on hand-computed cases: RMSE/MAE/URR, per persona, histograms,
// Jensen-Shannon distance, bootstrap intervals, order independence.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/errors.h"
#include "eval/metrics.h"
#include "eval/paired_difference.h"

namespace personas {
namespace {

PredictionRecord rec(std::int64_t user, std::int32_t item, float truth, float predicted, std::int32_t persona,
                     bool unrelated = false) {
  PredictionRecord r;
  r.user_index = user;
  r.user_id = 100 + user;
  r.item_id = item;
  r.truth = truth;
  r.predicted = predicted;
  r.unrelated = unrelated;
  r.persona = persona;
  return r;
}

MetricsOptions no_bootstrap() {
  MetricsOptions o;
  o.bootstrap_samples = 0;
  return o;
}

TEST(EvalMetrics, HandComputedOverallAndPerPersona) {
  // user 0 (persona 0): errors +1, -2 ; user 1 (persona 1): error 0 and one unrelated.
  std::vector<PredictionRecord> r{rec(0, 1, 4, 5, 0), rec(0, 2, 3, 1, 0), rec(1, 1, 2, 2, 1),
                                  rec(1, 3, 5, 0, 1, true)};
  auto m = metrics_from_users("x", "baseline", summarise_users(r), no_bootstrap());
  EXPECT_EQ(m.overall.sums.n, 3);
  EXPECT_EQ(m.overall.sums.n_unrelated, 1);
  EXPECT_DOUBLE_EQ(m.overall.sums.rmse(), std::sqrt(5.0 / 3.0));
  EXPECT_DOUBLE_EQ(m.overall.sums.mae(), 1.0);
  EXPECT_DOUBLE_EQ(m.overall.sums.urr(), 0.25);
  EXPECT_EQ(m.overall.n_users, 2);
  ASSERT_EQ(m.per_persona.size(), 2u);
  EXPECT_DOUBLE_EQ(m.per_persona.at(0).sums.rmse(), std::sqrt(2.5));
  EXPECT_DOUBLE_EQ(m.per_persona.at(0).sums.mae(), 1.5);
  EXPECT_DOUBLE_EQ(m.per_persona.at(1).sums.rmse(), 0.0);
  EXPECT_DOUBLE_EQ(m.per_persona.at(1).sums.urr(), 0.5);
  ASSERT_EQ(m.users.size(), 2u);
  EXPECT_EQ(m.users[1].n_unrelated, 1);
  // Histograms: truth counts every record, prediction only rated ones.
  EXPECT_EQ(m.overall.hist_truth[histogram_bin(5)], 1);
  EXPECT_EQ(m.overall.hist_truth[histogram_bin(4)], 1);
  EXPECT_EQ(m.overall.hist_predicted[histogram_bin(5)], 1);
  EXPECT_EQ(m.overall.hist_predicted[histogram_bin(1)], 1);
  EXPECT_DOUBLE_EQ(m.overall.mean_truth, 3.0);
  EXPECT_DOUBLE_EQ(m.overall.mean_predicted, 8.0 / 3.0);
  auto j = metrics_to_json(m);
  EXPECT_EQ(j["per_persona"]["1"]["n_unrelated"], 1);
  EXPECT_NEAR(j["overall"]["rmse"].get<double>(), std::sqrt(5.0 / 3.0), 1e-12);
}

TEST(EvalMetrics, HistogramBinsAndClamping) {
  EXPECT_EQ(histogram_bin(1.0), 0);
  EXPECT_EQ(histogram_bin(5.0), kHistogramBins - 1);
  EXPECT_EQ(histogram_bin(7.0), kHistogramBins - 1);
  EXPECT_EQ(histogram_bin(-1.0), 0);
  EXPECT_EQ(histogram_bin(3.4), 10);  // 3.375 and above go to the 3.5 bin
  EXPECT_EQ(histogram_bin(3.1), 8);
  EXPECT_DOUBLE_EQ(histogram_bin_centre(8), 3.0);
}

TEST(EvalMetrics, JensenShannonDistance) {
  std::vector<std::int64_t> a{1, 0, 0}, b{0, 0, 5}, c{2, 0, 0}, e{1, 0, 1};
  EXPECT_DOUBLE_EQ(jensen_shannon_distance(a, c), 0.0);   // same distribution, other scale
  EXPECT_NEAR(jensen_shannon_distance(a, b), 1.0, 1e-12); // disjoint supports: the maximum
  // a vs half/half: JSD = 0.5*(1*log2(1/0.75)) + 0.5*(0.5*log2(0.5/0.75) + 0.5*log2(0.5/0.25))
  const double jsd = 0.5 * std::log2(1 / 0.75) + 0.5 * (0.5 * std::log2(0.5 / 0.75) + 0.5 * std::log2(2.0));
  EXPECT_NEAR(jensen_shannon_distance(a, e), std::sqrt(jsd), 1e-12);
  EXPECT_DOUBLE_EQ(jensen_shannon_distance(std::vector<std::int64_t>{0, 0, 0}, b), 0.0);
}

TEST(EvalMetrics, IndependentOfRecordOrder) {
  std::vector<PredictionRecord> r;
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> pred(1, 5);
  for (int u = 0; u < 20; ++u)
    for (int i = 0; i < 15; ++i) r.push_back(rec(u, i, float(1 + (u + i) % 5), pred(gen), u % 4, (u * i) % 17 == 3));
  MetricsOptions o;
  o.bootstrap_samples = 200;
  auto a = metrics_from_users("a", "agent", summarise_users(r), o);
  std::shuffle(r.begin(), r.end(), gen);
  auto b = metrics_from_users("a", "agent", summarise_users(r), o);
  EXPECT_EQ(a.overall.sums.sum_sq, b.overall.sums.sum_sq);
  EXPECT_EQ(a.overall.sums.sum_abs, b.overall.sums.sum_abs);
  EXPECT_EQ(a.overall.rmse_ci.low, b.overall.rmse_ci.low);
  EXPECT_EQ(a.overall.mae_ci.high, b.overall.mae_ci.high);
  EXPECT_EQ(metrics_to_json(a).dump(), metrics_to_json(b).dump());
}

TEST(EvalMetrics, BootstrapIntervalIsSeededAndBracketsTheEstimate) {
  std::vector<PredictionRecord> r;
  for (int u = 0; u < 50; ++u)
    for (int i = 0; i < 10; ++i) r.push_back(rec(u, i, 3, float(3 + ((u * 7 + i) % 5 - 2) * 0.5 * (u % 3)), 0));
  MetricsOptions o;
  o.bootstrap_samples = 500;
  o.seed = 1;
  auto a = metrics_from_users("a", "baseline", summarise_users(r), o);
  auto again = metrics_from_users("a", "baseline", summarise_users(r), o);
  o.seed = 2;
  auto other = metrics_from_users("a", "baseline", summarise_users(r), o);
  ASSERT_TRUE(a.overall.has_ci);
  const double rmse = a.overall.sums.rmse(), mae = a.overall.sums.mae();
  EXPECT_LT(a.overall.rmse_ci.low, rmse);
  EXPECT_GT(a.overall.rmse_ci.high, rmse);
  EXPECT_LT(a.overall.mae_ci.low, mae);
  EXPECT_GT(a.overall.mae_ci.high, mae);
  EXPECT_LT(a.overall.rmse_ci.high - a.overall.rmse_ci.low, 0.5 * rmse);  // 50 users: a useful width
  EXPECT_EQ(a.overall.rmse_ci.low, again.overall.rmse_ci.low);
  EXPECT_NE(a.overall.rmse_ci.low, other.overall.rmse_ci.low);
}

// The Poisson bootstrap's weights: Poisson(1) in distribution, a pure
// function of (seed, resample, user).
TEST(EvalMetrics, BootstrapWeightsArePoissonOne) {
  const int n = 200000;
  double sum = 0, sum_sq = 0;
  int zeros = 0;
  for (int k = 0; k < n; ++k) {
    const int w = bootstrap_weight(9, k % 100, k / 100);
    sum += w;
    sum_sq += double(w) * w;
    zeros += w == 0;
  }
  const double mean = sum / n;
  EXPECT_NEAR(mean, 1.0, 0.01);
  EXPECT_NEAR(sum_sq / n - mean * mean, 1.0, 0.02);
  EXPECT_NEAR(double(zeros) / n, std::exp(-1.0), 0.005);
  EXPECT_EQ(bootstrap_weight(9, 3, 12345), bootstrap_weight(9, 3, 12345));
  int differ = 0;
  for (int u = 0; u < 100; ++u) differ += bootstrap_weight(9, 3, u) != bootstrap_weight(10, 3, u);
  EXPECT_GT(differ, 30);
}

TEST(EvalMetrics, UserWithTwoPersonasIsRejected) {
  std::vector<PredictionRecord> r{rec(0, 1, 4, 4, 0), rec(0, 2, 4, 4, 1)};
  EXPECT_THROW(summarise_users(r), Error);
}

TEST(EvalMetrics, AllUnrelatedGivesNullRmseInJson) {
  std::vector<PredictionRecord> r{rec(0, 1, 4, 0, -1, true)};
  auto m = metrics_from_users("x", "agent", summarise_users(r), no_bootstrap());
  auto j = metrics_to_json(m);
  EXPECT_TRUE(j["overall"]["rmse"].is_null());
  EXPECT_DOUBLE_EQ(j["overall"]["urr"].get<double>(), 1.0);
  EXPECT_TRUE(m.per_persona.empty());
  auto u = user_to_json("x", m.users[0]);
  EXPECT_EQ(u["user"], 100);
  EXPECT_TRUE(u["mae"].is_null());
}

}  // namespace
}  // namespace personas

namespace personas {
namespace {

// Two predictors on the same 60 users x 8 ratings: `b` is `a` plus a small
// per-rating wobble, so they share almost all of their between-user spread.
struct PairedCase {
  std::vector<PredictionRecord> a, b;
};
PairedCase paired_case(double offset) {
  PairedCase c;
  std::mt19937 rng(11);
  std::normal_distribution<float> user_error(0.0f, 0.9f), wobble(0.0f, 0.05f);
  for (int u = 0; u < 60; ++u) {
    const float bias = user_error(rng);
    for (int i = 0; i < 8; ++i) {
      const float truth = float(1 + (u + i) % 5);
      const float pa = truth + bias + 0.3f * float((i % 3) - 1);
      c.a.push_back(rec(u, i, truth, pa, 0));
      c.b.push_back(rec(u, i, truth, pa + wobble(rng) + float(offset) * (pa >= truth ? 1.0f : -1.0f), 0));
    }
  }
  return c;
}

TEST(EvalMetrics, PairedDifferenceIsTheDifferenceOfTheRmses) {
  const auto c = paired_case(0.05);
  MetricsOptions o;
  o.bootstrap_samples = 400;
  auto a = metrics_from_users("a", "baseline", summarise_users(c.a), o);
  auto b = metrics_from_users("b", "agent", summarise_users(c.b), o);
  auto local = make_local_comm();
  auto d = paired_difference(paired_users(b.users), paired_users(a.users), "a", *local, o);
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->has_ci);
  EXPECT_EQ(d->reference, "a");
  EXPECT_NEAR(d->rmse_diff, b.overall.sums.rmse() - a.overall.sums.rmse(), 1e-9);
  EXPECT_NEAR(d->mae_diff, b.overall.sums.mae() - a.overall.sums.mae(), 1e-9);
  // b is worse by a margin that the paired interval resolves (it excludes 0)
  // while the two marginal intervals still overlap.
  EXPECT_GT(d->rmse_diff, 0);
  EXPECT_GT(d->rmse_diff_ci.low, 0);
  EXPECT_LT(d->rmse_diff_ci.low, d->rmse_diff);
  EXPECT_GT(d->rmse_diff_ci.high, d->rmse_diff);
  EXPECT_LT(b.overall.rmse_ci.low, a.overall.rmse_ci.high);
  EXPECT_LT(d->rmse_diff_ci.high - d->rmse_diff_ci.low, 0.25 * (a.overall.rmse_ci.high - a.overall.rmse_ci.low));
  // A predictor against itself: exactly 0, interval [0, 0].
  auto self = paired_difference(paired_users(a.users), paired_users(a.users), "a", *local, o);
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(self->rmse_diff, 0.0);
  EXPECT_EQ(self->rmse_diff_ci.low, 0.0);
  EXPECT_EQ(self->rmse_diff_ci.high, 0.0);
  const auto j = paired_difference_to_json(*d);
  EXPECT_EQ(j["reference"], "a");
  EXPECT_EQ(j["rmse_diff_ci"].size(), 2u);
}

// Pairing needs the same ratings: other users, or another count of ratings
// for a user (agents limited by eval.agent_max_items), give no comparison.
TEST(EvalMetrics, PairedDifferenceNeedsTheSameRatings) {
  const auto c = paired_case(0.0);
  MetricsOptions o;
  o.bootstrap_samples = 20;
  auto local = make_local_comm();
  const auto a = paired_users(summarise_users(c.a));
  auto fewer = c.b;
  fewer.pop_back();  // the last user has one rating less
  EXPECT_FALSE(paired_difference(paired_users(summarise_users(fewer)), a, "a", *local, o).has_value());
  std::vector<PredictionRecord> other_users;
  for (auto r : c.b) {
    r.user_index += 1000;
    other_users.push_back(r);
  }
  EXPECT_FALSE(paired_difference(paired_users(summarise_users(other_users)), a, "a", *local, o).has_value());
}

}  // namespace
}  // namespace personas
