// RUN/eval/predictions-rank-N.jsonl: what the prediction sink sees is every
// test rating of every predictor, and prediction_lines writes it losslessly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <sstream>

#include "comm/comm.h"
#include "eval/evaluation.h"
#include "eval/paired_difference.h"
#include "unit/eval/eval_test_data.h"

namespace personas {
namespace {

std::vector<std::int32_t> planted_personas(const Dataset& data) {
  std::vector<std::int32_t> personas;
  for (const auto& u : data.users) personas.push_back(u.true_persona);
  return personas;
}

TEST(EvalPredictions, SinkSeesEveryTestRatingOfEveryPredictor) {
  auto comm = make_local_comm();
  const auto data = testing::make_model_ratings(30, 25, 10, 5);
  EvalConfig c;
  c.baselines = "global_mean,bias";
  const auto personas = planted_personas(data);
  std::int64_t n_test = 0;
  for (const auto& u : data.users) n_test += u.n_test;
  std::map<std::string, std::string> lines;
  MetricsOptions mo;
  mo.bootstrap_samples = 0;
  const auto outcome = evaluate_predictors(baseline_predictors(c, 1), data, personas, *comm, mo,
                                           [&](const EvalPredictor& p, const std::vector<PredictionRecord>& records) {
                                             lines[p.name] += prediction_lines(p.name, records);
                                           });
  ASSERT_EQ(lines.size(), 2u);
  for (std::size_t k = 0; k < outcome.metrics.size(); ++k) {
    const auto& m = outcome.metrics[k];
    std::istringstream in(lines[m.name]);
    std::string line;
    std::int64_t n = 0;
    double squared = 0;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      EXPECT_EQ(j["predictor"], m.name);
      EXPECT_GE(j["user"].get<std::int64_t>(), 10);
      EXPECT_GE(j["item"].get<std::int64_t>(), 1000);
      EXPECT_FALSE(j["unrelated"].get<bool>());
      EXPECT_EQ(j["persona"].get<int>(), (j["user"].get<int>() - 10) % 3);
      const double e = j["predicted"].get<double>() - j["truth"].get<double>();
      squared += e * e;
      ++n;
    }
    EXPECT_EQ(n, n_test) << m.name;
    // The file's ratings give the metrics' RMSE (float precision of the records).
    EXPECT_NEAR(std::sqrt(squared / static_cast<double>(n)), m.overall.sums.rmse(), 1e-5) << m.name;
  }
}

// Baselines hand their records over in pieces of whole users (bounded memory
// at scale); the metrics and the records do not depend on the piece size.
TEST(EvalPredictions, PiecesOfUsersGiveTheSameMetrics) {
  auto comm = make_local_comm();
  const auto data = testing::make_model_ratings(30, 25, 10, 5);
  EvalConfig c;
  c.baselines = "user_mean,bias";
  const auto personas = planted_personas(data);
  MetricsOptions mo;
  mo.bootstrap_samples = 40;
  std::string whole_lines, piece_lines;
  int pieces = 0;
  const auto whole = evaluate_predictors(baseline_predictors(c, 1), data, personas, *comm, mo,
                                         [&](const EvalPredictor& p, const std::vector<PredictionRecord>& r) {
                                           whole_lines += prediction_lines(p.name, r);
                                         });
  const auto in_pieces = evaluate_predictors(baseline_predictors(c, 1, 7), data, personas, *comm, mo,
                                             [&](const EvalPredictor& p, const std::vector<PredictionRecord>& r) {
                                               piece_lines += prediction_lines(p.name, r);
                                               ++pieces;
                                             });
  EXPECT_EQ(pieces, 2 * 5);  // 30 users, 7 a piece, two predictors
  EXPECT_EQ(piece_lines, whole_lines);
  ASSERT_EQ(in_pieces.metrics.size(), 2u);
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(metrics_to_json(in_pieces.metrics[k]).dump(), metrics_to_json(whole.metrics[k]).dump());
    EXPECT_EQ(in_pieces.metrics[k].users.size(), 30u);
  }
}

TEST(EvalPredictions, UnrelatedAnswersHaveNoPrediction) {
  PredictionRecord r;
  r.user_id = 7;
  r.item_id = 9;
  r.truth = 4;
  r.unrelated = true;
  const auto j = nlohmann::json::parse(prediction_lines("agent", {r}));
  EXPECT_TRUE(j["predicted"].is_null());
  EXPECT_TRUE(j["unrelated"].get<bool>());
  EXPECT_EQ(j["truth"].get<double>(), 4.0);
}


// An agent that rates a subset of the test ratings (eval.agent_max_items) is
// paired with the reference on exactly those ratings: its paired difference
// is its RMSE minus the reference's RMSE over the same (user, item) pairs.
TEST(EvalPredictions, AgentOnASubsetIsPairedOnItsOwnRatings) {
  auto comm = make_local_comm();
  const auto data = testing::make_model_ratings(30, 25, 10, 5);
  EvalConfig c;
  c.baselines = "bias";
  auto predictors = baseline_predictors(c, 1);
  ASSERT_EQ(predictors.size(), 1u);
  const EvalPredictor bias = predictors[0];
  // The "agent": the bias prediction of every user's first 2 test items, off by
  // +0.5 (unrelated for one user's second item, to count URR apart).
  EvalPredictor agent;
  agent.name = "agent_subset";
  agent.kind = "agent";
  agent.predict = [bias](const Dataset& d, std::span<const std::int32_t> personas, Comm& cm, const RecordEmitter& emit) {
    bias.predict(d, personas, cm, [&](const std::vector<PredictionRecord>& records) {
      std::map<std::int64_t, int> seen;
      std::vector<PredictionRecord> kept;
      for (auto r : records) {
        if (++seen[r.user_index] > 2) continue;
        r.predicted += 0.5f;
        if (r.user_index == d.first_user && seen[r.user_index] == 2) r.unrelated = true;
        kept.push_back(r);
      }
      emit(kept);
    });
  };
  predictors.push_back(agent);
  MetricsOptions mo;
  mo.bootstrap_samples = 50;
  mo.compare_to = "bias";
  std::map<std::pair<std::int64_t, std::int32_t>, double> bias_error;
  double agent_sq = 0, bias_sq = 0;
  std::int64_t n = 0;
  std::vector<PredictionRecord> agent_records;
  const auto outcome = evaluate_predictors(
      predictors, data, planted_personas(data), *comm, mo, [&](const EvalPredictor& p, const std::vector<PredictionRecord>& r) {
        for (const auto& x : r) {
          if (p.name == "bias") bias_error[{x.user_index, x.item_id}] = double(x.predicted) - double(x.truth);
          else agent_records.push_back(x);
        }
      });
  // As on the full set: each predictor's RMSE over its usable answers among
  // the same ratings (the reference answered the one the agent did not).
  for (const auto& x : agent_records) {
    const double b = bias_error.at({x.user_index, x.item_id});
    bias_sq += b * b;
    if (x.unrelated) continue;
    const double e = double(x.predicted) - double(x.truth);
    agent_sq += e * e;
    ++n;
  }
  ASSERT_EQ(agent_records.size(), 60u);
  ASSERT_EQ(n, 59);
  ASSERT_TRUE(outcome.vs_reference[1].has_value());
  const auto& d = *outcome.vs_reference[1];
  EXPECT_TRUE(d.on_subset);
  EXPECT_TRUE(d.has_ci);
  const double expected = std::sqrt(agent_sq / double(n)) - std::sqrt(bias_sq / 60.0);
  EXPECT_GT(expected, 0.05);  // the +0.5 offset shows
  EXPECT_NEAR(d.rmse_diff, expected, 1e-5);
  EXPECT_LE(d.rmse_diff_ci.low, d.rmse_diff);
  EXPECT_GE(d.rmse_diff_ci.high, d.rmse_diff);
  EXPECT_EQ(paired_difference_to_json(d)["ratings"], "the predictor's subset");
  EXPECT_FALSE(outcome.vs_reference[0].has_value());  // the reference itself
}

// A baseline rating every test rating is paired on all of them, as before.
TEST(EvalPredictions, FullPredictorsArePairedOnAllRatings) {
  auto comm = make_local_comm();
  const auto data = testing::make_model_ratings(30, 25, 10, 5);
  EvalConfig c;
  c.baselines = "global_mean,bias";
  MetricsOptions mo;
  mo.bootstrap_samples = 20;
  mo.compare_to = "bias";
  const auto outcome = evaluate_predictors(baseline_predictors(c, 1), data, planted_personas(data), *comm, mo);
  ASSERT_TRUE(outcome.vs_reference[0].has_value());
  EXPECT_FALSE(outcome.vs_reference[0]->on_subset);
  EXPECT_NEAR(outcome.vs_reference[0]->rmse_diff,
              outcome.metrics[0].overall.sums.rmse() - outcome.metrics[1].overall.sums.rmse(), 1e-9);
}

}  // namespace
}  // namespace personas
