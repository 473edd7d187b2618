// Classical rating predictors on the same per-user temporal split as the
// agents (train = each user's first n_train interactions, test = the rest):
//   global_mean  mu
//   user_mean    the user's training mean (mu for a user without training ratings)
//   item_mean    the item's training mean over the selected users (mu for an unseen item)
//   bias         mu + b_u + b_i, ridge-regularised, alternating exact passes
//   mf_sgd       mu + b_u + b_i + p_u.q_i by seeded SGD (Funk SVD, as Surprise's SVD)
//   mf_als       the same model by alternating ridge solves (weighted-lambda)
// Every prediction is clamped to [1, 5].
//
// Sharding: users are spread over ranks. Means and biases combine the ranks'
// training sums by an exact fixed-point allreduce (ExactSums), so they are
// bit-identical for any number of ranks. The two MF models gather the
// training ratings on every rank (12 bytes per rating) and train the same
// replicated model in selection order: identical for any number of ranks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "data/dataset.h"
#include "eval/eval_config.h"
#include "eval/exact_sums.h"
#include "eval/metrics.h"

namespace personas {

class Baseline {
 public:
  virtual ~Baseline() = default;
  virtual std::string name() const = 0;
  // Collective: learns from the training period of every rank's users.
  virtual void fit(const Dataset& data, Comm& comm) = 0;
  // Prediction for this rank's user data.users[local_user] and item index `item`
  // (index into Dataset::items), already clamped to [1, 5].
  virtual double predict(std::size_t local_user, std::int32_t item) const = 0;
};

std::vector<std::string> known_baselines();
bool is_known_baseline(const std::string& name);
// `seed` feeds the seeded models (mf_sgd, mf_als).
std::unique_ptr<Baseline> make_baseline(const std::string& name, const EvalConfig& config, std::uint64_t seed);

// One record per test-period interaction of this rank's users
// data.users[begin, end) (all of them by default).
// `persona_of_user` is indexed like data.users (empty = every persona -1).
std::vector<PredictionRecord> predict_test_period(const Baseline& baseline, const Dataset& data,
                                                  std::span<const std::int32_t> persona_of_user,
                                                  std::size_t begin = 0, std::size_t end = SIZE_MAX);

// RMSE of the baseline on the training period of all ranks' users (collective),
// a quick check of fit.
double training_rmse(const Baseline& baseline, const Dataset& data, Comm& comm);

}  // namespace personas
