#include "comm/sharding.h"

#include "core/errors.h"

namespace personas {

std::pair<std::int64_t, std::int64_t> block_range(std::int64_t n, int rank, int n_ranks) {
  PERSONAS_ASSERT(n_ranks > 0 && rank >= 0 && rank < n_ranks, "rank {} of {}", rank, n_ranks);
  std::int64_t base = n / n_ranks, extra = n % n_ranks;
  std::int64_t begin = rank * base + std::min<std::int64_t>(rank, extra);
  std::int64_t end = begin + base + (rank < extra ? 1 : 0);
  return {begin, end};
}

int block_owner(std::int64_t index, std::int64_t n, int n_ranks) {
  PERSONAS_ASSERT(index >= 0 && index < n, "index {} outside [0, {})", index, n);
  std::int64_t base = n / n_ranks, extra = n % n_ranks;
  std::int64_t big = extra * (base + 1);  // the first `extra` ranks hold base+1
  if (index < big) return static_cast<int>(index / (base + 1));
  return static_cast<int>(extra + (index - big) / base);
}

}  // namespace personas
