// [eval]: classical baselines and metrics (the agents' scoring keys join later).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config_schema.h"

namespace personas {

struct EvalConfig {
  // Comma-separated list, run in this order (see docs/evaluation.md).
  std::string baselines = "global_mean,user_mean,item_mean,bias,mf_sgd,mf_als";

  // user + item bias: r ~ mu + b_u + b_i, ridge-regularised, alternating passes
  // (the Surprise library's BaselineOnly ALS defaults).
  double bias_reg_user = 15.0;
  double bias_reg_item = 10.0;
  int bias_iterations = 10;

  // Biased MF by SGD (Funk SVD as in Surprise's SVD): r ~ mu + b_u + b_i + p_u.q_i.
  int mf_factors = 100;
  int mf_epochs = 20;
  double mf_lr = 0.005;
  double mf_reg = 0.02;
  double mf_init_std = 0.1;

  // Biased MF by ALS (same model, closed-form alternating ridge solves;
  // the ridge weight is als_reg * number of ratings of the row: "weighted-lambda").
  int als_factors = 20;
  int als_iterations = 15;
  double als_reg = 0.1;
  double als_init_std = 0.1;

  // Metrics.
  int bootstrap_samples = 1000;  // resamples of users for the confidence intervals (0 = none)
  double confidence = 0.95;      // two-sided level of the percentile intervals

  void describe(ConfigSchema& schema);
  std::vector<std::string> baseline_list() const;
};

}  // namespace personas
