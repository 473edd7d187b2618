#include "data/ratings.h"

#include <algorithm>
#include <numeric>

#include "core/errors.h"

namespace personas {

std::int32_t IdIndex::find(std::int64_t id) const {
  if (id >= 0 && id < kDense) {
    return static_cast<std::size_t>(id) < dense_.size() ? dense_[static_cast<std::size_t>(id)] : -1;
  }
  auto it = sparse_.find(id);
  return it == sparse_.end() ? -1 : it->second;
}

std::int32_t IdIndex::insert(std::int64_t id, std::int32_t index) {
  if (id >= 0 && id < kDense) {
    auto slot = static_cast<std::size_t>(id);
    if (slot >= dense_.size()) dense_.resize(std::max(slot + 1, dense_.size() * 2), -1);
    dense_[slot] = index;
  } else {
    sparse_[id] = index;
  }
  return index;
}

RatingsBuilder::RatingsBuilder(std::string source, double rating_min, double rating_max, BadRows& bad_rows)
    : rating_min_(rating_min), rating_max_(rating_max), bad_(bad_rows) {
  ratings_.source = std::move(source);
}

bool RatingsBuilder::add_item(Item item, const std::string& file, std::int64_t line) {
  if (item_index_.find(item.id) >= 0) {
    bad_.report(file, line, "item id {} appears twice", item.id);
    return false;
  }
  item_index_.insert(item.id, static_cast<std::int32_t>(ratings_.items.size()));
  ratings_.items.push_back(std::move(item));
  return true;
}

bool RatingsBuilder::add_user(User user, const std::string& file, std::int64_t line) {
  if (user_index_.find(user.id) >= 0) {
    bad_.report(file, line, "user id {} appears twice", user.id);
    return false;
  }
  user_index_.insert(user.id, static_cast<std::int32_t>(ratings_.users.size()));
  ratings_.users.push_back(std::move(user));
  return true;
}

bool RatingsBuilder::add_rating(std::int64_t user_id, std::int64_t item_id, double rating, std::int64_t timestamp,
                                const std::string& file, std::int64_t line) {
  if (ratings_file_.empty()) ratings_file_ = file;
  if (user_id < 0 || item_id < 0 || item_id > INT32_MAX) {
    bad_.report(file, line, "id out of range (user {}, item {}): ids must be in 0..2147483647", user_id, item_id);
    return false;
  }
  if (!(rating >= rating_min_ && rating <= rating_max_)) {
    bad_.report(file, line, "rating {} outside [{}, {}] (data.rating_min, data.rating_max)", rating, rating_min_,
                rating_max_);
    return false;
  }
  if (timestamp < 0) {
    bad_.report(file, line, "negative timestamp {}", timestamp);
    return false;
  }
  std::int32_t u = user_index_.find(user_id);
  if (u < 0) {
    if (!new_users_) {
      bad_.report(file, line, "user {} is not in the users file", user_id);
      return false;
    }
    User user;
    user.id = user_id;
    u = user_index_.insert(user_id, static_cast<std::int32_t>(ratings_.users.size()));
    ratings_.users.push_back(std::move(user));
  }
  std::int32_t i = item_index_.find(item_id);
  if (i < 0) {
    if (!new_items_) {
      bad_.report(file, line, "item {} is not in the items file", item_id);
      return false;
    }
    Item item;
    item.id = static_cast<std::int32_t>(item_id);
    i = item_index_.insert(item_id, static_cast<std::int32_t>(ratings_.items.size()));
    ratings_.items.push_back(std::move(item));
  }
  row_user_.push_back(u);
  row_line_.push_back(line);
  ratings_.item.push_back(i);
  ratings_.rating.push_back(static_cast<float>(rating));
  ratings_.timestamp.push_back(timestamp);
  return true;
}

Ratings RatingsBuilder::finish(bool has_timestamps) {
  Ratings& r = ratings_;
  r.has_timestamps = has_timestamps;
  const std::size_t n_users = r.users.size(), n_rows = r.item.size();
  // Counting sort of the rows by user (stable: file order within a user).
  std::vector<std::int64_t> begin(n_users + 1, 0);
  for (auto u : row_user_) ++begin[static_cast<std::size_t>(u) + 1];
  std::partial_sum(begin.begin(), begin.end(), begin.begin());
  std::vector<std::int64_t> order(n_rows);
  {
    std::vector<std::int64_t> next(begin.begin(), begin.end() - 1);
    for (std::size_t row = 0; row < n_rows; ++row) order[static_cast<std::size_t>(next[row_user_[row]]++)] = row;
  }
  // Per user: find duplicates by item (keep the earliest line), then order by (timestamp, item).
  std::vector<char> keep(n_rows, 1);
  std::vector<std::int64_t> by_item;
  for (std::size_t u = 0; u < n_users; ++u) {
    auto first = order.begin() + begin[u], last = order.begin() + begin[u + 1];
    by_item.assign(first, last);
    std::sort(by_item.begin(), by_item.end(), [&](std::int64_t a, std::int64_t b) {
      return r.item[a] != r.item[b] ? r.item[a] < r.item[b] : row_line_[a] < row_line_[b];
    });
    for (std::size_t k = 1; k < by_item.size(); ++k) {
      auto prev = by_item[k - 1], cur = by_item[k];
      if (r.item[prev] == r.item[cur]) {
        bad_.report(ratings_file_, row_line_[cur], "duplicate rating of item {} by user {} (first at line {})",
                    r.items[r.item[cur]].id, r.users[u].id, row_line_[prev]);
        keep[cur] = 0;
      }
    }
    std::sort(first, last, [&](std::int64_t a, std::int64_t b) {
      return r.timestamp[a] != r.timestamp[b] ? r.timestamp[a] < r.timestamp[b] : r.item[a] < r.item[b];
    });
  }
  // Gather into the grouped order, dropping skipped duplicates.
  std::vector<std::int32_t> item;
  std::vector<float> rating;
  std::vector<std::int64_t> timestamp;
  item.reserve(n_rows);
  rating.reserve(n_rows);
  timestamp.reserve(n_rows);
  r.user_begin.assign(n_users + 1, 0);
  for (std::size_t u = 0; u < n_users; ++u) {
    for (auto k = begin[u]; k < begin[u + 1]; ++k) {
      auto row = order[static_cast<std::size_t>(k)];
      if (!keep[row]) continue;
      item.push_back(r.item[row]);
      rating.push_back(r.rating[row]);
      timestamp.push_back(r.timestamp[row]);
    }
    r.user_begin[u + 1] = static_cast<std::int64_t>(item.size());
  }
  r.item = std::move(item);
  r.rating = std::move(rating);
  r.timestamp = std::move(timestamp);
  row_user_.clear();
  row_line_.clear();
  return std::move(ratings_);
}

}  // namespace personas
