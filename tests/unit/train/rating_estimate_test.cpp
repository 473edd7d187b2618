// The prompt's user + item estimate (train/rating_estimate.h): one pass of the
// bias fit, and its leave-one-out equals a fit on the data without the rating.
#include "train/rating_estimate.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace personas;

namespace {

// Three items, two users; item statistics are over both users' training periods.
Dataset two_users() {
  Dataset d;
  d.genre_names = {"Drama"};
  //        ratings: user 7: item0 5, item1 3, item2 4 | user 8: item0 4, item1 1 | test: user 7 item2? no, item 1 of 8
  d.items = {{1, "A", 1990, 1u, 4.5, 2}, {2, "B", 1991, 1u, 2.0, 2}, {3, "C", 1992, 1u, 4.0, 1}};
  User a;
  a.id = 7;
  a.first = 0;
  a.n_train = 3;
  User b;
  b.id = 8;
  b.first = 3;
  b.n_train = 2;
  b.n_test = 1;
  d.users = {a, b};
  d.interactions = {{0, 5, 1}, {1, 3, 2}, {2, 4, 3}, {0, 4, 1}, {1, 1, 2}, {2, 2, 3}};
  return d;
}

// The estimate written out from its definition.
double by_hand(const Dataset& d, const User& u, double mu, std::int32_t item) {
  auto b_item = [&](std::int32_t i) {
    const Item& it = d.items[static_cast<std::size_t>(i)];
    return (it.train_mean - mu) * it.train_count / (kEstimateItemReg + it.train_count);
  };
  double sum = 0;
  for (const Interaction& x : d.train_of(u)) sum += x.rating - mu - b_item(x.item);
  return std::clamp(mu + b_item(item) + sum / (kEstimateUserReg + u.n_train), 1.0, 5.0);
}

}  // namespace

TEST(RatingEstimate, TrainingMeanIsOverEveryTrainingRating) {
  EXPECT_DOUBLE_EQ(training_mean(two_users()), 17.0 / 5.0);
  Dataset empty;
  EXPECT_DOUBLE_EQ(training_mean(empty), 3.0);
}

TEST(RatingEstimate, ForItemIsOnePassOfTheBiasFit) {
  const Dataset d = two_users();
  const double mu = training_mean(d);
  for (const User& u : d.users) {
    UserRatingEstimate e(d, u, mu);
    for (std::int32_t i = 0; i < 3; ++i) EXPECT_NEAR(e.for_item(i), by_hand(d, u, mu, i), 1e-12);
  }
  // User 8 rates below the items' averages: the estimate for item 2 falls below its average.
  EXPECT_LT(UserRatingEstimate(d, d.users[1], mu).for_item(2), 4.0);
}

TEST(RatingEstimate, LeavingOutEqualsTheFitWithoutThatRating) {
  const Dataset d = two_users();
  const double mu = training_mean(d);
  for (std::size_t ui = 0; ui < d.users.size(); ++ui) {
    const User& u = d.users[ui];
    UserRatingEstimate e(d, u, mu);
    for (std::int32_t t = 0; t < u.n_train; ++t) {
      // The data set without interaction t of this user: the item's statistics
      // lose the rating and the user's training period loses the interaction.
      Dataset without = d;
      const Interaction x = d.train_of(u)[static_cast<std::size_t>(t)];
      Item& it = without.items[static_cast<std::size_t>(x.item)];
      const double sum = it.train_mean * it.train_count - x.rating;
      it.train_count -= 1;
      it.train_mean = it.train_count > 0 ? sum / it.train_count : 0.0;
      without.interactions.erase(without.interactions.begin() + static_cast<std::ptrdiff_t>(u.first + t));
      without.users[ui].n_train -= 1;
      for (std::size_t k = ui + 1; k < without.users.size(); ++k) without.users[k].first -= 1;
      EXPECT_NEAR(e.leaving_out(t), by_hand(without, without.users[ui], mu, x.item), 1e-12) << "user " << u.id << " t " << t;
    }
  }
}

TEST(RatingEstimate, ClampedToTheRatingScale) {
  Dataset d;
  d.items = {{1, "A", 0, 0u, 5.0, 1000}, {2, "B", 0, 0u, 1.0, 1000}};
  User u;
  u.n_train = 1;
  d.users = {u};
  d.interactions = {{1, 5, 1}};  // loved the item everybody hates: 3 + 1.98 + 0.25 for item A
  EXPECT_DOUBLE_EQ(UserRatingEstimate(d, d.users[0], 3.0).for_item(0), 5.0);
}
