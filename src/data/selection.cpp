#include "data/selection.h"

#include <algorithm>
#include <cmath>

#include "comm/sharding.h"
#include "core/errors.h"
#include "core/log.h"
#include "data/rng.h"

namespace personas {

std::int32_t train_count(std::int32_t n, double train_fraction) {
  if (n <= 1) return n;
  auto k = static_cast<std::int32_t>(std::llround(train_fraction * n));
  return std::clamp<std::int32_t>(k, 1, n - 1);
}

Dataset select_and_split(const Ratings& ratings, const DataConfig& config, std::uint64_t seed) {
  // Eligible users, by ascending source id.
  std::vector<std::size_t> eligible;
  for (std::size_t u = 0; u < ratings.users.size(); ++u) {
    const auto n = ratings.n_ratings_of(u);
    if (n >= config.min_ratings && (config.max_ratings == 0 || n <= config.max_ratings)) eligible.push_back(u);
  }
  PERSONAS_CHECK_HINT(!eligible.empty(), data,
                      "lower data.min_ratings or raise data.max_ratings (0 = no upper limit)",
                      "empty selection: none of the {} users of '{}' has between {} and {} ratings", ratings.users.size(),
                      config.path, config.min_ratings,
                      config.max_ratings == 0 ? std::string("unlimited") : std::to_string(config.max_ratings));
  std::sort(eligible.begin(), eligible.end(),
            [&](std::size_t a, std::size_t b) { return ratings.users[a].id < ratings.users[b].id; });
  if (config.n_users > 0 && static_cast<std::size_t>(config.n_users) < eligible.size()) {
    // Partial Fisher-Yates with the seed, then back to id order.
    Rng rng(derive_seed(seed, "data.select"));
    const auto k = static_cast<std::size_t>(config.n_users);
    for (std::size_t i = 0; i < k; ++i) std::swap(eligible[i], eligible[i + rng.below(eligible.size() - i)]);
    eligible.resize(k);
    std::sort(eligible.begin(), eligible.end(),
              [&](std::size_t a, std::size_t b) { return ratings.users[a].id < ratings.users[b].id; });
  } else if (config.n_users > 0 && static_cast<std::size_t>(config.n_users) > eligible.size()) {
    plog::warn("data.n_users = {} but only {} users have {}..{} ratings: taking all of them", config.n_users,
               eligible.size(), config.min_ratings, config.max_ratings);
  }

  Dataset ds;
  ds.source = ratings.source;
  ds.genre_names = ratings.genre_names;
  ds.items = ratings.items;
  ds.n_users_total = static_cast<std::int64_t>(eligible.size());
  ds.first_user = 0;
  ds.users.reserve(eligible.size());
  std::vector<double> sum(ds.items.size(), 0.0);
  std::vector<std::int32_t> count(ds.items.size(), 0);
  std::vector<std::int64_t> rows;
  for (std::size_t u : eligible) {
    User user = ratings.users[u];
    rows.clear();
    for (auto r = ratings.user_begin[u]; r < ratings.user_begin[u + 1]; ++r) rows.push_back(r);
    if (!ratings.has_timestamps) {
      // No time order: a seeded random order per user stands in for it.
      Rng rng(derive_seed(seed, "data.order", static_cast<std::uint64_t>(user.id)));
      for (std::size_t i = rows.size(); i > 1; --i) std::swap(rows[i - 1], rows[rng.below(i)]);
    }
    const auto n = static_cast<std::int32_t>(rows.size());
    user.first = static_cast<std::int64_t>(ds.interactions.size());
    user.n_train = train_count(n, config.train_fraction);
    user.n_test = n - user.n_train;
    for (std::int32_t k = 0; k < n; ++k) {
      const auto r = static_cast<std::size_t>(rows[static_cast<std::size_t>(k)]);
      ds.interactions.push_back(Interaction{ratings.item[r], ratings.rating[r], ratings.timestamp[r]});
      if (k < user.n_train) {
        sum[static_cast<std::size_t>(ratings.item[r])] += ratings.rating[r];
        ++count[static_cast<std::size_t>(ratings.item[r])];
      }
    }
    ds.users.push_back(std::move(user));
  }
  for (std::size_t i = 0; i < ds.items.size(); ++i) {
    ds.items[i].train_count = count[i];
    ds.items[i].train_mean = count[i] ? sum[i] / count[i] : 0.0;
  }
  return ds;
}

Dataset take_block(const Dataset& whole, int rank, int n_ranks) {
  auto [begin, end] = block_range(whole.n_users_total, rank, n_ranks);
  Dataset part;
  part.source = whole.source;
  part.genre_names = whole.genre_names;
  part.items = whole.items;
  part.n_users_total = whole.n_users_total;
  part.first_user = begin;
  for (auto i = begin; i < end; ++i) {
    User user = whole.users[static_cast<std::size_t>(i)];
    auto train = whole.train_of(user), test = whole.test_of(user);
    user.first = static_cast<std::int64_t>(part.interactions.size());
    part.interactions.insert(part.interactions.end(), train.begin(), train.end());
    part.interactions.insert(part.interactions.end(), test.begin(), test.end());
    part.users.push_back(std::move(user));
  }
  return part;
}

}  // namespace personas
