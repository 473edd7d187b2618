// Which rank owns which user. Ownership is a pure function of (user id, number
// of ranks), so every rank knows every owner without talking, and the union
// over ranks is exactly the selection for any number of ranks.
#pragma once

#include <cstdint>
#include <vector>

namespace personas {

// Owner of the i-th item of an ordered selection of n items over n_ranks:
// contiguous blocks, sizes differing by at most one (rank order = selection order,
// so concatenating per-rank outputs in rank order restores the selection order).
int block_owner(std::int64_t index, std::int64_t n, int n_ranks);
// [begin, end) of the block owned by `rank`.
std::pair<std::int64_t, std::int64_t> block_range(std::int64_t n, int rank, int n_ranks);

}  // namespace personas
