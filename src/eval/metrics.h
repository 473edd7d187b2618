// Rating-prediction metrics for any predictor (agents and classical baselines
// alike). A predictor hands in one PredictionRecord per (user, held-out item)
// for this rank's users; compute_metrics reduces them over ranks.
//
// Rank-count independence: each user lives on one rank, so the per-user
// summaries are computed exactly where the user lives; they are then gathered
// to every rank in selection order and every global figure (overall, per
// persona, bootstrap) is summed in that fixed order. The results are
// bit-identical for any number of ranks.
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
};

struct PredictorMetrics {
  std::string name;
  std::string kind;                         // "baseline" or "agent"
  GroupMetrics overall;
  std::map<std::int32_t, GroupMetrics> per_persona;  // only personas >= 0
  std::vector<UserSummary> users;           // every user, selection order (same on every rank)
};

// Collective. `records` are this rank's users' predictions (any order). A
// user's records must all carry the same persona.
PredictorMetrics compute_metrics(const std::string& name, const std::string& kind,
                                 std::span<const PredictionRecord> records, Comm& comm,
                                 const MetricsOptions& options);

// Pure (no communication): the same from already gathered user summaries,
// in selection order. compute_metrics ends here.
PredictorMetrics metrics_from_users(const std::string& name, const std::string& kind,
                                    std::vector<UserSummary> users, const MetricsOptions& options);

// Per-user summaries of local records, sorted by user_index.
std::vector<UserSummary> summarise_users(std::span<const PredictionRecord> records);

// Percentile bootstrap over users (seeded; sums in a fixed order).
void bootstrap_intervals(std::span<const UserSummary> users, const MetricsOptions& options,
                         ConfidenceInterval& rmse_ci, ConfidenceInterval& mae_ci);

// JSON views (the metrics.json and per-user JSONL formats of docs/evaluation.md).
nlohmann::json group_to_json(const GroupMetrics& group);
nlohmann::json metrics_to_json(const PredictorMetrics& metrics);
nlohmann::json user_to_json(const std::string& predictor, const UserSummary& user);

}  // namespace personas
