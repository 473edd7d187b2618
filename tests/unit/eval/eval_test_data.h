// In-memory data sets for the evaluation tests (unit and MPI): ratings drawn
// from a known biased low-rank model, and the block of users one rank holds.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "comm/sharding.h"
#include "data/dataset.h"
#include "eval/rng.h"

namespace personas::testing {

// Each user rates `per_user` distinct items (chosen at random) with
// r = clamp(round(3.5 + b_u + b_i + p_u.q_i + noise), 1, 5); the first
// `train_fraction` of each user's ratings (by timestamp) is the training period.
inline Dataset make_model_ratings(int n_users, int n_items, int per_user, std::uint64_t seed,
                                  double train_fraction = 0.7, int rank = 2, double noise = 0.3) {
  SplitMix64 rng(seed);
  Dataset d;
  d.source = "test-model";
  d.genre_names = {"Drama"};
  std::vector<double> bi(n_items), q(std::size_t(n_items) * rank);
  for (int i = 0; i < n_items; ++i) {
    Item it;
    it.id = 1000 + i;
    it.title = "Item " + std::to_string(i);
    d.items.push_back(it);
    bi[i] = 0.5 * rng.normal();
    for (int f = 0; f < rank; ++f) q[std::size_t(i) * rank + f] = 0.6 * rng.normal();
  }
  d.n_users_total = n_users;
  for (int u = 0; u < n_users; ++u) {
    User user;
    user.id = 10 + u;
    user.true_persona = u % 3;
    user.first = std::int64_t(d.interactions.size());
    const double bu = 0.4 * rng.normal();
    std::vector<double> p(rank);
    for (auto& x : p) x = 0.6 * rng.normal();
    std::vector<int> items(n_items);
    for (int i = 0; i < n_items; ++i) items[i] = i;
    for (int k = 0; k < per_user; ++k) std::swap(items[k], items[k + int(rng.below(std::uint64_t(n_items - k)))]);
    for (int k = 0; k < per_user; ++k) {
      const int i = items[k];
      double r = 3.5 + bu + bi[i] + noise * rng.normal();
      for (int f = 0; f < rank; ++f) r += p[f] * q[std::size_t(i) * rank + f];
      Interaction x;
      x.item = i;
      x.rating = float(std::clamp(std::round(r), 1.0, 5.0));
      x.timestamp = 1000 * u + k;
      d.interactions.push_back(x);
    }
    user.n_train = int(std::lround(train_fraction * per_user));
    user.n_test = per_user - user.n_train;
    d.users.push_back(user);
  }
  return d;
}

// The block of users that `rank` of `n_ranks` holds (items stay global).
inline Dataset shard_of(const Dataset& full, int rank, int n_ranks) {
  const auto [begin, end] = block_range(full.n_users_total, rank, n_ranks);
  Dataset d;
  d.source = full.source;
  d.genre_names = full.genre_names;
  d.items = full.items;
  d.n_users_total = full.n_users_total;
  d.first_user = begin;
  for (auto k = begin; k < end; ++k) {
    User u = full.users[std::size_t(k)];
    const auto n = std::size_t(u.n_train + u.n_test);
    const auto from = full.interactions.begin() + u.first;
    u.first = std::int64_t(d.interactions.size());
    d.interactions.insert(d.interactions.end(), from, from + std::ptrdiff_t(n));
    d.users.push_back(u);
  }
  return d;
}

}  // namespace personas::testing
