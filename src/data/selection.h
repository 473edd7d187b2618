// The paper's protocol on loaded ratings: eligible users (min..max ratings),
// N of them chosen with the seed, a per-user temporal split, and item
// statistics from the training period of the selected users only.
#pragma once

#include <cstdint>

#include "data/data_config.h"
#include "data/dataset.h"
#include "data/ratings.h"

namespace personas {

// Training-period size of a user with n ratings: round(train_fraction * n),
// kept within [1, n-1] when n >= 2 (so both periods are non-empty).
std::int32_t train_count(std::int32_t n, double train_fraction);

// The whole selection (every selected user, in selection order = ascending
// source user id), with global item statistics. ErrorKind::data when no user
// is eligible. `seed` is the run seed; without timestamps each user's order is
// a seeded random permutation instead of time order.
Dataset select_and_split(const Ratings& ratings, const DataConfig& config, std::uint64_t seed);

// Rank `rank`'s block of a whole selection (items are kept whole).
Dataset take_block(const Dataset& whole, int rank, int n_ranks);

}  // namespace personas
