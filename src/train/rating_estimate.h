// The user + item bias estimate a prompt may state (train.prompt_estimate):
// mu + b_i + b_u from training-period ratings, one pass of the bias
// baseline's fit (eval/baselines.h, default ridge weights):
//   b_i = sum over the item's ratings of (r - mu) / (kItemReg + n_i)
//   b_u = sum over the user's ratings of (r - mu - b_i) / (kUserReg + n_u)
// clamped to [1, 5]. For a training sample the rating itself is left out of
// both sums (leave-one-out, as the item average of samples.h), so no prompt
// holds a trace of its own answer; a test item sees every training rating,
// exactly what the bias baseline sees.
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace personas {

inline constexpr double kEstimateItemReg = 10;  // eval.bias_reg_item's default
inline constexpr double kEstimateUserReg = 15;  // eval.bias_reg_user's default

// Mean training-period rating over every selected user (items are global, so
// every rank gets the same value); 3 when there is none.
double training_mean(const Dataset& data);

class UserRatingEstimate {
 public:
  UserRatingEstimate(const Dataset& data, const User& user, double mu);

  // The estimate for any item with all of the user's training ratings.
  double for_item(std::int32_t item) const;
  // The estimate for training interaction t of the user, without its rating.
  double leaving_out(std::int32_t t) const;

 private:
  double item_bias(std::int32_t item, double left_out_rating, bool leave_out) const;

  const Dataset& data_;
  const User& user_;
  double mu_;
  std::vector<double> residuals_;  // r - mu - b_i per training interaction
  double residual_sum_ = 0;
};

}  // namespace personas
