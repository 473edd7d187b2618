#include "eval/reference_ratings.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/errors.h"

namespace personas {

void ReferenceRatings::add(std::span<const PredictionRecord> records) {
  for (const auto& r : records) {
    const bool usable = !r.unrelated && std::isfinite(r.predicted);
    by_user_[r.user_index].emplace_back(r.item_id, usable ? r.predicted : std::numeric_limits<float>::quiet_NaN());
  }
  sorted_ = false;
}

const float* ReferenceRatings::find(std::int64_t user_index, std::int32_t item_id) const {
  const auto user = by_user_.find(user_index);
  if (user == by_user_.end()) return nullptr;
  const auto& items = user->second;
  const auto it = std::lower_bound(items.begin(), items.end(), item_id,
                                   [](const auto& e, std::int32_t item) { return e.first < item; });
  return it != items.end() && it->first == item_id ? &it->second : nullptr;
}

std::vector<PairedUser> ReferenceRatings::on(std::span<const RatedPair> rated) {
  if (!sorted_) {
    for (auto& [user, items] : by_user_)
      std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    sorted_ = true;
  }
  // The same arithmetic as summarise_users (eval/metrics.cpp): error of the
  // prediction against the truth, per user, unrelated answers counted apart.
  std::map<std::int64_t, PairedUser> users;
  for (const auto& p : rated) {
    auto& u = users[p.user_index];
    u.user_index = p.user_index;
    u.n_records += 1;
    const float* predicted = find(p.user_index, p.item_id);
    PERSONAS_CHECK(predicted != nullptr, data,
                   "paired comparison: user {} (selection index {}) item {} was rated by the predictor but not by "
                   "the reference: the two did not rate the same test set",
                   p.user_id, p.user_index, p.item_id);
    if (std::isnan(*predicted)) continue;
    const double err = double(*predicted) - double(p.truth);
    u.n += 1;
    u.sum_sq += err * err;
    u.sum_abs += std::abs(err);
  }
  std::vector<PairedUser> out;
  out.reserve(users.size());
  for (auto& [index, u] : users) out.push_back(u);
  return out;
}

}  // namespace personas
