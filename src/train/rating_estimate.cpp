#include "train/rating_estimate.h"

#include <algorithm>

#include "core/errors.h"

namespace personas {

double training_mean(const Dataset& data) {
  double sum = 0;
  std::int64_t n = 0;
  for (const Item& item : data.items) {
    sum += item.train_mean * item.train_count;
    n += item.train_count;
  }
  return n > 0 ? sum / static_cast<double>(n) : 3.0;
}

UserRatingEstimate::UserRatingEstimate(const Dataset& data, const User& user, double mu)
    : data_(data), user_(user), mu_(mu) {
  for (const Interaction& x : data.train_of(user)) {
    residuals_.push_back(x.rating - mu - item_bias(x.item, 0, false));
    residual_sum_ += residuals_.back();
  }
}

double UserRatingEstimate::item_bias(std::int32_t item, double left_out_rating, bool leave_out) const {
  PERSONAS_ASSERT(item >= 0 && item < static_cast<std::int32_t>(data_.items.size()), "item index {} out of range",
                  item);
  const Item& it = data_.items[static_cast<std::size_t>(item)];
  double sum = (it.train_mean - mu_) * it.train_count;
  double n = it.train_count;
  if (leave_out && n > 0) {
    sum -= left_out_rating - mu_;
    n -= 1;
  }
  return sum / (kEstimateItemReg + n);
}

double UserRatingEstimate::for_item(std::int32_t item) const {
  const double n = static_cast<double>(residuals_.size());
  return std::clamp(mu_ + item_bias(item, 0, false) + residual_sum_ / (kEstimateUserReg + n), 1.0, 5.0);
}

double UserRatingEstimate::leaving_out(std::int32_t t) const {
  PERSONAS_ASSERT(t >= 0 && t < static_cast<std::int32_t>(residuals_.size()), "interaction {} out of range", t);
  const Interaction& x = data_.train_of(user_)[static_cast<std::size_t>(t)];
  const double n = static_cast<double>(residuals_.size()) - 1;
  const double user_bias = (residual_sum_ - residuals_[static_cast<std::size_t>(t)]) / (kEstimateUserReg + n);
  return std::clamp(mu_ + item_bias(x.item, x.rating, true) + user_bias, 1.0, 5.0);
}

}  // namespace personas
