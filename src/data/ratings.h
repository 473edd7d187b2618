// The ratings of a source as loaded, before selection: every item and user
// the source knows, and one row per rating. Loaders fill it through
// RatingsBuilder, which maps source ids to dense indices, checks each row and
// sends bad ones to BadRows; finish() groups the rows by user in time order
// and finds duplicate (user, item) pairs.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/bad_rows.h"
#include "data/dataset.h"

namespace personas {

struct Ratings {
  std::string source;
  bool has_timestamps = true;
  std::vector<std::string> genre_names;
  std::vector<Item> items;  // index = item index (statistics not filled here)
  std::vector<User> users;  // index = user index (demographics only)
  // One entry per rating, grouped by user (user_begin[u] .. user_begin[u+1]),
  // within a user sorted by (timestamp, item index).
  std::vector<std::int64_t> user_begin;
  std::vector<std::int32_t> item;
  std::vector<float> rating;
  std::vector<std::int64_t> timestamp;

  std::int64_t n_ratings() const { return static_cast<std::int64_t>(item.size()); }
  std::int32_t n_ratings_of(std::size_t user) const {
    return static_cast<std::int32_t>(user_begin[user + 1] - user_begin[user]);
  }
};

// Source id -> dense index; a flat table for the small non-negative ids of
// MovieLens, a hash map beyond.
class IdIndex {
 public:
  // -1 when unknown.
  std::int32_t find(std::int64_t id) const;
  std::int32_t insert(std::int64_t id, std::int32_t index);

 private:
  static constexpr std::int64_t kDense = 1 << 22;
  std::vector<std::int32_t> dense_;
  std::unordered_map<std::int64_t, std::int32_t> sparse_;
};

class RatingsBuilder {
 public:
  RatingsBuilder(std::string source, double rating_min, double rating_max, BadRows& bad_rows);

  // Items and users declared by the source's item/user files. Duplicate ids are bad rows.
  bool add_item(Item item, const std::string& file, std::int64_t line);
  bool add_user(User user, const std::string& file, std::int64_t line);
  // When allowed, a rating's unknown user or item is created on the fly
  // (sources without a users or items file); otherwise it is a bad row.
  void allow_new_users(bool allow) { new_users_ = allow; }
  void allow_new_items(bool allow) { new_items_ = allow; }

  // One rating row: checks ids and range; returns false when the row was bad (and skipped).
  bool add_rating(std::int64_t user_id, std::int64_t item_id, double rating, std::int64_t timestamp,
                  const std::string& file, std::int64_t line);

  Ratings& ratings() { return ratings_; }
  // Groups rows by user, orders them by (timestamp, item), reports duplicate
  // (user, item) pairs as bad rows at the later line (skip keeps the first),
  // and returns the result.
  Ratings finish(bool has_timestamps);

 private:
  Ratings ratings_;
  double rating_min_, rating_max_;
  BadRows& bad_;
  bool new_users_ = false, new_items_ = false;
  IdIndex user_index_, item_index_;
  std::vector<std::int32_t> row_user_;
  std::vector<std::int64_t> row_line_;
  std::string ratings_file_;
};

}  // namespace personas
