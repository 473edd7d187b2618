// The order in which one adapter sees its samples: per epoch, a seeded
// shuffle; with length bucketing, the shuffled list is cut into windows of
// 50 global batches, each window sorted by length and cut into global
// batches, and the batches shuffled again (similar lengths share a batch, so
// little padding, while the epoch stays random). A pure function of
// (lengths, seed, epoch, sizes): every rank of a group computes the same
// batches, and a resumed run recomputes exactly the order it had.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace personas {

struct EpochBatches {
  std::vector<std::vector<std::int32_t>> batches;  // sample indices per global batch
};

EpochBatches plan_epoch(std::span<const std::int32_t> lengths, int global_batch, std::uint64_t seed, int epoch,
                        bool bucket_by_length);

// Optimiser steps per epoch for n samples: ceil(n / global_batch) (the last batch may be smaller).
std::int64_t steps_per_epoch(std::int64_t n_samples, int global_batch);

// The part of a global batch that group rank `rank` of `n_ranks` computes:
// contiguous, sizes differing by at most one (may be empty).
std::span<const std::int32_t> rank_slice(const std::vector<std::int32_t>& batch, int rank, int n_ranks);


}  // namespace personas
