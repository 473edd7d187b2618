// Behaviour features of a user (the "cheaper persona features" PAPER.md lists
// as future work), from training-period ratings only:
//   per genre g: taste offset_g = mean(rating - item.train_mean) over the user's
//                items of g minus the user's overall offset (its generosity),
//                shrunk toward 0 by n_g / (n_g + 3) (few ratings say little);
//   per genre g: sqrt(share_g) - sqrt(global share_g) (Hellinger: the sampling
//                noise is about the same for rare and common genres);
//   generosity (overall offset) and activity = ln(1 + n_train) / ln(1 + max n_train).
// The vector is [offsets(G), shares(G), generosity, activity]; every column is
// centred over all users and each block scaled as a whole so that its summed
// variance is 0.45, 0.45, 0.05, 0.05 (rows have squared length 1 on average).
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
