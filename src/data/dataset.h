// The prepared data set: what `personas prepare` (or `synth`) writes into
// RUN/prepare/ and every later stage reads. Items are global (every rank holds
// all of them); users are sharded: each rank holds a contiguous block of the
// selection (comm/sharding.h), whatever number of ranks wrote the files.
//
// Interactions of one user are contiguous, sorted by (timestamp, item id): the
// first `n_train` are the training period, the rest the test period. Item
// statistics (train_mean, train_count) use training-period ratings only, so
// nothing from the test period can leak into prompts.
// Sources without timestamps (ml1m-fallback, a CSV without a time column) store
// timestamp 0 and order each user's interactions by a seeded random
// permutation instead (docs/data.md): the split is then a random one.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace personas {

struct Item {
  std::int32_t id = 0;          // id in the source (MovieLens movie id)
  std::string title;            // UTF-8, without the "(1995)" year suffix
  std::int32_t year = 0;        // 0 when unknown
  std::uint32_t genres = 0;     // bit g set = genre_names[g]
  double train_mean = 0.0;      // mean training-period rating over selected users (0 if none)
  std::int32_t train_count = 0; // training-period ratings over selected users
};

struct Interaction {
  std::int32_t item = 0;        // index into Dataset::items
  float rating = 0;             // 1..5
  std::int64_t timestamp = 0;   // seconds; 0 when the source has none
};

struct User {
  std::int64_t id = 0;          // id in the source
  std::int32_t age = 0;         // 0 when unknown
  char gender = '?';            // 'M', 'F' or '?'
  std::string occupation;       // "" when unknown
  std::int32_t true_persona = -1;  // planted persona (synthetic data), else -1
  std::int64_t first = 0;       // offset of the user's first interaction in Dataset::interactions
  std::int32_t n_train = 0;     // training-period interactions
  std::int32_t n_test = 0;      // test-period interactions
};

struct Dataset {
  std::string source;                      // "ml100k", "synthetic", ...
  std::vector<std::string> genre_names;
  std::vector<Item> items;                 // all items
  std::int64_t n_users_total = 0;          // users in the whole selection
  std::int64_t first_user = 0;             // selection index of users[0] on this rank
  std::vector<User> users;                 // this rank's block
  std::vector<Interaction> interactions;   // this rank's users' interactions

  std::span<const Interaction> train_of(const User& u) const {
    return {interactions.data() + u.first, static_cast<std::size_t>(u.n_train)};
  }
  std::span<const Interaction> test_of(const User& u) const {
    return {interactions.data() + u.first + u.n_train, static_cast<std::size_t>(u.n_test)};
  }
};

}  // namespace personas
