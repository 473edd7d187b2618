// A small deterministic in-memory Dataset for the distill tests (no files):
// 40 movies over 6 genres and 3 decades, users with 12..30 ratings whose
// tastes differ by user, train period first 70%. shard_of() cuts the block a
// rank would load, as load_dataset does.
#pragma once

#include <algorithm>
#include <cstdint>

#include "comm/sharding.h"
#include "data/dataset.h"

namespace personas::testing {

inline Dataset tiny_dataset(int n_users = 9) {
  Dataset d;
  d.source = "test";
  d.genre_names = {"Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"};
  for (int i = 0; i < 40; ++i) {
    Item item;
    item.id = 100 + i;
    item.title = "Movie " + std::to_string(i);
    item.year = 1960 + (i % 4) * 12;
    item.genres = (1u << (i % 6)) | (i % 5 == 0 ? (1u << ((i + 2) % 6)) : 0u);
    d.items.push_back(item);
  }
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>((state >> 33) % 1000);
  };
  d.n_users_total = n_users;
  for (int u = 0; u < n_users; ++u) {
    User user;
    user.id = 1000 + u;
    user.first = static_cast<std::int64_t>(d.interactions.size());
    int n = 12 + (u * 7) % 19;
    int loved = u % 6, hated = (u + 3) % 6;
    for (int k = 0; k < n; ++k) {
      Interaction x;
      x.item = (u * 11 + k * 3) % 40;
      const auto& item = d.items[static_cast<std::size_t>(x.item)];
      float r = 3.0f + (next() % 3 - 1) * 0.5f;
      if (item.genres & (1u << loved)) r += 1.5f;
      if (item.genres & (1u << hated)) r -= 1.5f;
      x.rating = std::clamp(std::round(r), 1.0f, 5.0f);
      x.timestamp = 1000000 + k * 60;
      d.interactions.push_back(x);
    }
    user.n_train = static_cast<std::int32_t>(n * 7 / 10);
    user.n_test = n - user.n_train;
    d.users.push_back(user);
  }
  // Training-period item averages over all users.
  std::vector<double> sum(d.items.size(), 0);
  for (const auto& user : d.users)
    for (const auto& x : d.train_of(user)) {
      sum[static_cast<std::size_t>(x.item)] += x.rating;
      d.items[static_cast<std::size_t>(x.item)].train_count += 1;
    }
  for (std::size_t i = 0; i < d.items.size(); ++i)
    if (d.items[i].train_count) d.items[i].train_mean = sum[i] / d.items[i].train_count;
  return d;
}

inline Dataset shard_of(const Dataset& full, int rank, int n_ranks) {
  auto [lo, hi] = block_range(full.n_users_total, rank, n_ranks);
  Dataset d;
  d.source = full.source;
  d.genre_names = full.genre_names;
  d.items = full.items;
  d.n_users_total = full.n_users_total;
  d.first_user = lo;
  for (auto u = lo; u < hi; ++u) {
    User user = full.users[static_cast<std::size_t>(u)];
    auto first = user.first;
    user.first = static_cast<std::int64_t>(d.interactions.size());
    for (int k = 0; k < user.n_train + user.n_test; ++k)
      d.interactions.push_back(full.interactions[static_cast<std::size_t>(first + k)]);
    d.users.push_back(user);
  }
  return d;
}

}  // namespace personas::testing
