// Behaviour features of a user (the "cheaper persona features" PAPER.md lists
// as future work), from training-period ratings only:
//   per genre g: offset_g = mean(rating - item.train_mean) over the user's items of g,
//                shrunk toward 0 by n_g / (n_g + 3) (few ratings say little);
//   per genre g: share_g - global share_g (how much more of g the user rates);
//   overall offset (generosity) and activity = ln(1 + n_train) / ln(1 + max n_train).
// The vector is [offsets(G), shares(G), overall, activity], each column
// standardised over all users (mean 0, sd 1) and the row divided by
// sqrt(2G + 2), so a row has unit length on average.
// Collective: shares, max activity and column moments are exact integer sums
// over ranks, so the features do not depend on the rank layout.
#pragma once

#include <vector>

#include "comm/comm.h"
#include "data/dataset.h"

namespace personas {

// 2 * genres + 2
int behavior_dim(const Dataset& dataset);
// Row-major [dataset.users.size(), behavior_dim].
std::vector<float> behavior_features(const Dataset& dataset, Comm& comm);

}  // namespace personas
