// Paired comparison of two predictors on the same held-out ratings: the
// difference of their RMSE (and MAE) with a percentile interval over the
// same Poisson resamples of users that the per-predictor intervals use
// (eval/metrics.h). A user weighs alike for both predictors in a resample,
// so the variation between users that both share cancels: "is the agent
// worse than the bias baseline?" is answered by whether the difference's
// interval holds 0, which two overlapping marginal intervals cannot say.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/comm.h"
#include "eval/metrics.h"

namespace personas {

// What the comparison needs of a user (32 bytes: the reference predictor's
// users are kept while the others run, at any scale).
struct PairedUser {
  std::int64_t user_index = 0;
  std::int64_t n_records = 0;  // related + unrelated: the same ratings for both predictors
  double sum_sq = 0;           // over related predictions
  double sum_abs = 0;
  std::int64_t n = 0;          // related predictions
};
std::vector<PairedUser> paired_users(std::span<const UserSummary> users);  // same order

struct PairedDifference {
  std::string reference;                     // the predictor subtracted
  double rmse_diff = 0, mae_diff = 0;        // predictor minus reference, over every user
  ConfidenceInterval rmse_diff_ci, mae_diff_ci;
  bool has_ci = false;
  // The predictor rated a subset of the test ratings (eval.agent_max_items)
  // and the reference was paired on exactly that subset (eval/reference_ratings.h).
  bool on_subset = false;
};

// Collective. `users` and `reference` are this rank's users of the two
// predictors, sorted by user_index. Empty when the two do not cover the same
// users with the same number of ratings each (e.g. agents limited by
// eval.agent_max_items): then there is nothing to pair.
std::optional<PairedDifference> paired_difference(std::span<const PairedUser> users,
                                                  std::span<const PairedUser> reference,
                                                  const std::string& reference_name, Comm& comm,
                                                  const MetricsOptions& options);

nlohmann::json paired_difference_to_json(const PairedDifference& d);

}  // namespace personas
