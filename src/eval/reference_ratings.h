// The reference predictor's rating of each held-out (user, item) of this
// rank, kept while the other predictors run, so that a predictor that rates a
// subset of the test ratings (agents under eval.agent_max_items) is paired with
// the reference on exactly the ratings it rated, not left without a paired
// interval. 8 bytes a rating; kept only when an agent is evaluated (agents are
// far slower than any number of ratings this holds).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eval/metrics.h"
#include "eval/paired_difference.h"

namespace personas {

// One rating a predictor made (related or not), for the lookup.
struct RatedPair {
  std::int64_t user_index = 0;
  std::int64_t user_id = 0;
  std::int32_t item_id = 0;
  float truth = 0;
};

class ReferenceRatings {
 public:
  void add(std::span<const PredictionRecord> records);
  // The reference's per-user sums over exactly `rated` (any order), sorted by
  // user_index as paired_users() gives them. A pair the reference never rated
  // is a data error naming the user and item (the two predictors would not
  // be rating the same test set).
  // Sorts what add() gathered on its first call after an add().
  std::vector<PairedUser> on(std::span<const RatedPair> rated);

 private:
  // The reference's prediction of (user, item); nullptr when it rated none.
  const float* find(std::int64_t user_index, std::int32_t item_id) const;

  // Per user: (item, prediction) sorted by item once `on` is asked; NaN = no usable rating.
  std::unordered_map<std::int64_t, std::vector<std::pair<std::int32_t, float>>> by_user_;
  bool sorted_ = true;
};

}  // namespace personas
