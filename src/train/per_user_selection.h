// train.mode = per-user: which users get an adapter of their own.
//
// One adapter per user is the OPPU-style upper bound of the method; on a CPU
// it is affordable for a few users only, so `train.per_user_top = N` keeps
// the N users with the most training-period ratings (the ones a per-user
// adapter has the most to learn from). A pure function of the per-user
// counts, so every rank picks the same users without talking.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace personas {

// n_train[g] = training-period ratings of the user with global selection
// index g. Returns the chosen users' global indices in ascending order:
// every user when top <= 0 or top >= n_train.size(), else the `top` users
// with the largest counts, a tie going to the smaller index.
std::vector<std::int64_t> per_user_adapter_users(std::span<const std::int64_t> n_train, std::int64_t top);
// How many users that chooses among n_users.
std::int64_t per_user_adapter_count(std::int64_t n_users, std::int64_t top);

}  // namespace personas
