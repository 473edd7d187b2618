// Rating-prediction metrics for any predictor (agents and classical baselines
// alike). A predictor hands in one PredictionRecord per (user, held-out item)
// for this rank's users; compute_metrics reduces them over ranks.
//
// Scale and rank-count independence: each user lives on one rank, so the
// per-user summaries are computed and kept where the user lives (memory per
// rank grows with the rank's users only). Every global figure (overall, per
// persona, the bootstrap's resample sums) is an exact fixed-point sum
// (eval/exact_sums.h) allreduced over ranks, so the results are bit-identical
// for any number of ranks. The bootstrap is a Poisson bootstrap over users:
// in resample s user u counts w(seed, s, u) ~ Poisson(1) times, a hash of the
// seed, the resample and the user's selection index, so no rank needs any
// other rank's users (docs/evaluation.md).
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "comm/comm.h"

namespace personas {

// One prediction for one held-out rating.
struct PredictionRecord {
  std::int64_t user_index = 0;  // the user's index in the selection (Dataset::first_user + local index)
  std::int64_t user_id = 0;     // the user's id in the source
  std::int32_t item_id = 0;     // the item's id in the source
  float truth = 0;              // the held-out rating (1..5)
  float predicted = 0;          // the predicted rating; ignored when `unrelated`
  bool unrelated = false;       // the predictor gave no usable rating (counts in URR)
  std::int32_t persona = -1;    // the user's persona (-1 = none / unknown)
};

// Histograms over ratings: bins centred on 1, 1.25, ..., 5 (width 0.25), with
// values clamped into [1, 5]. Integer ratings fall on every 4th bin.
inline constexpr int kHistogramBins = 17;
using RatingHistogram = std::array<std::int64_t, kHistogramBins>;
int histogram_bin(double rating);
double histogram_bin_centre(int bin);

// Jensen-Shannon distance (square root of the divergence, log base 2, so in
// [0, 1]) between two count vectors; 0 when either is empty.
double jensen_shannon_distance(std::span<const std::int64_t> p, std::span<const std::int64_t> q);

// Summary of one group of records (a user, a persona, everything).
struct ErrorSums {
  std::int64_t n = 0;            // rated (related) predictions
  std::int64_t n_unrelated = 0;  // predictions with no usable rating
  double sum_sq = 0;             // sum of squared errors over related predictions
  double sum_abs = 0;            // sum of absolute errors
  double rmse() const;
  double mae() const;
  double urr() const;            // n_unrelated / (n + n_unrelated)
};

// The per-user summary that crosses ranks (trivially copyable).
struct UserSummary {
  std::int64_t user_index = 0;
  std::int64_t user_id = 0;
  std::int32_t persona = -1;
  std::int64_t n = 0, n_unrelated = 0;
  double sum_sq = 0, sum_abs = 0;
  double sum_truth = 0, sum_predicted = 0;  // over related predictions
  RatingHistogram hist_truth{};             // over every record (related or not)
  RatingHistogram hist_predicted{};         // over related predictions
};

struct ConfidenceInterval {
  double low = 0, high = 0;
};

struct GroupMetrics {
  ErrorSums sums;
  std::int64_t n_users = 0;
  ConfidenceInterval rmse_ci, mae_ci;  // only for the overall group, when bootstrapped
  bool has_ci = false;
  RatingHistogram hist_truth{}, hist_predicted{};
  double js_distance = 0;
  double mean_truth = 0, mean_predicted = 0;
};

struct MetricsOptions {
  int bootstrap_samples = 1000;
  double confidence = 0.95;
  std::uint64_t seed = 1234;
  // evaluate_predictors: every other predictor is compared with this one
  // on the same users (eval/paired_difference.h); "" = none.
  std::string compare_to;
};

struct PredictorMetrics {
  std::string name;
  std::string kind;                         // "baseline" or "agent"
  GroupMetrics overall;
  std::map<std::int32_t, GroupMetrics> per_persona;  // only personas >= 0
  std::vector<UserSummary> users;           // this rank's users, selection order
};

// Collective. `records` are this rank's users' predictions (any order). A
// user's records must all carry the same persona.
PredictorMetrics compute_metrics(const std::string& name, const std::string& kind,
                                 std::span<const PredictionRecord> records, Comm& comm,
                                 const MetricsOptions& options);

// Collective: the same from this rank's user summaries (any order, each
// user once, a user on one rank only).
PredictorMetrics compute_metrics(const std::string& name, const std::string& kind, std::vector<UserSummary> users,
                                 Comm& comm, const MetricsOptions& options);

// One process (no communication): compute_metrics over every user at once.
PredictorMetrics metrics_from_users(const std::string& name, const std::string& kind,
                                    std::vector<UserSummary> users, const MetricsOptions& options);

// Per-user summaries of local records, sorted by user_index.
std::vector<UserSummary> summarise_users(std::span<const PredictionRecord> records);

// How many times user `user_index` counts in resample `resample`: Poisson(1),
// a pure function of its arguments (the same on every rank).
int bootstrap_weight(std::uint64_t seed, int resample, std::int64_t user_index);

// The q-quantile of sorted values, interpolating linearly between neighbours (0 when empty).
double quantile_sorted(const std::vector<double>& sorted, double q);

// Collective: percentile intervals of RMSE and MAE over options.bootstrap_samples
// Poisson resamples of the users (`users`: this rank's). Both stay {0, 0} when
// no resample has a rated item.
void bootstrap_intervals(std::span<const UserSummary> users, Comm& comm, const MetricsOptions& options,
                         ConfidenceInterval& rmse_ci, ConfidenceInterval& mae_ci);

// JSON views (the metrics.json and per-user JSONL formats of docs/evaluation.md).
nlohmann::json group_to_json(const GroupMetrics& group);
nlohmann::json metrics_to_json(const PredictorMetrics& metrics);
nlohmann::json user_to_json(const std::string& predictor, const UserSummary& user);

}  // namespace personas
