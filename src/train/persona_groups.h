// Persona parallelism: which ranks train which adapters.
//
// K adapters (personas, or 1 global, or one per user) over R ranks:
//  * R >= K: every adapter gets its own group of consecutive ranks; group
//    sizes are proportional to the adapters' sample counts (largest
//    remainder, at least one rank each). The group trains its adapter
//    data-parallel with a gradient allreduce over its sub-communicator.
//  * R < K: every rank is a group of one and trains its adapters in turn;
//    adapters go to ranks by "longest first to the least loaded rank" (LPT),
//    so the largest load is at most 4/3 of the optimum.
// The plan is a pure function of (sample counts, R): every rank computes the
// same plan without talking.
#pragma once

#include <cstdint>
#include <vector>

namespace personas {

struct RankGroup {
  int first_rank = 0;              // ranks [first_rank, first_rank + n_ranks)
  int n_ranks = 1;
  std::vector<int> adapters;       // trained in this order
  std::int64_t samples = 0;        // sum of the adapters' sample counts
};

struct GroupPlan {
  std::vector<RankGroup> groups;   // ordered by first_rank
  std::vector<int> group_of_rank;  // rank -> group index
  std::vector<int> group_of_adapter;
  const RankGroup& group_for_rank(int rank) const { return groups[static_cast<std::size_t>(group_of_rank[static_cast<std::size_t>(rank)])]; }
};

// samples[a] = training samples of adapter a (>= 0). n_ranks >= 1.
GroupPlan plan_groups(const std::vector<std::int64_t>& samples, int n_ranks);

}  // namespace personas
