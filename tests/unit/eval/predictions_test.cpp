// RUN/eval/predictions-rank-N.jsonl: what the prediction sink sees is every
// test rating of every predictor, and prediction_lines writes it losslessly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "comm/comm.h"
#include "eval/evaluation.h"
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

}  // namespace
}  // namespace personas
