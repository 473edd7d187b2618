#include "train/per_user_selection.h"

#include <algorithm>
#include <numeric>

namespace personas {

std::int64_t per_user_adapter_count(std::int64_t n_users, std::int64_t top) {
  return top > 0 ? std::min(top, n_users) : n_users;
}

std::vector<std::int64_t> per_user_adapter_users(std::span<const std::int64_t> n_train, std::int64_t top) {
  std::vector<std::int64_t> users(n_train.size());
  std::iota(users.begin(), users.end(), std::int64_t{0});
  if (per_user_adapter_count(static_cast<std::int64_t>(users.size()), top) == static_cast<std::int64_t>(users.size()))
    return users;
  // Most ratings first, then the earlier user; the first `top` are kept.
  std::stable_sort(users.begin(), users.end(), [&](std::int64_t a, std::int64_t b) {
    return n_train[static_cast<std::size_t>(a)] > n_train[static_cast<std::size_t>(b)];
  });
  users.resize(static_cast<std::size_t>(top));
  std::sort(users.begin(), users.end());
  return users;
}

}  // namespace personas
