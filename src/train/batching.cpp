#include "train/batching.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "comm/sharding.h"
#include "core/hash.h"
#include "core/seed_salts.h"

namespace personas {


namespace {

// std::shuffle's use of the engine is implementation-defined across standard
// libraries; a hand-written Fisher-Yates keeps the order portable.
template <class T>
void portable_shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(v[i - 1], v[j]);
  }
}

}  // namespace

EpochBatches plan_epoch(std::span<const std::int32_t> lengths, int global_batch, std::uint64_t seed, int epoch,
                        bool bucket_by_length) {
  std::mt19937_64 rng(hash_chain(seed, static_cast<std::uint64_t>(epoch), seed_salt::kBatchOrder));
  std::vector<std::int32_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  portable_shuffle(order, rng);
  EpochBatches out;
  const std::size_t g = static_cast<std::size_t>(std::max(1, global_batch));
  if (bucket_by_length) {
    const std::size_t window = g * 50;
    for (std::size_t w = 0; w < order.size(); w += window) {
      auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), w + window));
      std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(w), end, [&](std::int32_t a, std::int32_t b) {
        return lengths[static_cast<std::size_t>(a)] < lengths[static_cast<std::size_t>(b)];
      });
    }
  }
  for (std::size_t b = 0; b < order.size(); b += g)
    out.batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(b),
                             order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), b + g)));
  if (bucket_by_length) portable_shuffle(out.batches, rng);
  return out;
}

std::int64_t steps_per_epoch(std::int64_t n_samples, int global_batch) {
  return (n_samples + global_batch - 1) / global_batch;
}

std::span<const std::int32_t> rank_slice(const std::vector<std::int32_t>& batch, int rank, int n_ranks) {
  auto [begin, end] = block_range(static_cast<std::int64_t>(batch.size()), rank, n_ranks);
  return {batch.data() + begin, static_cast<std::size_t>(end - begin)};
}

}  // namespace personas
