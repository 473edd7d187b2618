#include "train/persona_groups.h"

#include <algorithm>
#include <numeric>

#include "core/errors.h"

namespace personas {

namespace {

// R >= K: ranks per adapter proportional to samples, at least one each.
std::vector<int> ranks_per_adapter(const std::vector<std::int64_t>& samples, int n_ranks) {
  const int k = static_cast<int>(samples.size());
  std::vector<int> count(static_cast<std::size_t>(k), 1);
  int spare = n_ranks - k;
  const std::int64_t total = std::accumulate(samples.begin(), samples.end(), std::int64_t{0});
  if (spare == 0 || total == 0) {
    // Nothing to weigh by: spread the spare ranks round-robin.
    for (int i = 0; spare > 0; ++i, --spare) ++count[static_cast<std::size_t>(i % k)];
    return count;
  }
  // Largest remainder on the ideal share n_ranks * s / total, minus the 1 already given.
  std::vector<double> remainder(static_cast<std::size_t>(k));
  int given = 0;
  for (int a = 0; a < k; ++a) {
    const double ideal = static_cast<double>(n_ranks) * static_cast<double>(samples[static_cast<std::size_t>(a)]) /
                         static_cast<double>(total);
    const int extra = std::max(0, static_cast<int>(ideal) - 1);
    count[static_cast<std::size_t>(a)] += extra;
    given += extra;
    remainder[static_cast<std::size_t>(a)] = ideal - static_cast<double>(count[static_cast<std::size_t>(a)]);
  }
  // The floor may overshoot only if ideal rounding gave too many; take back from the smallest remainders.
  while (given > spare) {
    int worst = -1;
    for (int a = 0; a < k; ++a)
      if (count[static_cast<std::size_t>(a)] > 1 &&
          (worst < 0 || remainder[static_cast<std::size_t>(a)] < remainder[static_cast<std::size_t>(worst)]))
        worst = a;
    --count[static_cast<std::size_t>(worst)];
    remainder[static_cast<std::size_t>(worst)] += 1.0;
    --given;
  }
  std::vector<int> order(static_cast<std::size_t>(k));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
    return remainder[static_cast<std::size_t>(x)] > remainder[static_cast<std::size_t>(y)];
  });
  for (int i = 0; given < spare; ++i, ++given) ++count[static_cast<std::size_t>(order[static_cast<std::size_t>(i % k)])];
  return count;
}

}  // namespace

GroupPlan plan_groups(const std::vector<std::int64_t>& samples, int n_ranks) {
  PERSONAS_CHECK(n_ranks >= 1, internal, "plan_groups: n_ranks {} must be >= 1", n_ranks);
  PERSONAS_CHECK(!samples.empty(), data, "train: there are no adapters to train (no persona has samples)");
  for (auto s : samples) PERSONAS_CHECK(s >= 0, internal, "plan_groups: negative sample count {}", s);
  const int k = static_cast<int>(samples.size());
  GroupPlan plan;
  plan.group_of_rank.assign(static_cast<std::size_t>(n_ranks), -1);
  plan.group_of_adapter.assign(static_cast<std::size_t>(k), -1);

  if (n_ranks >= k) {
    auto count = ranks_per_adapter(samples, n_ranks);
    int next = 0;
    for (int a = 0; a < k; ++a) {
      RankGroup g;
      g.first_rank = next;
      g.n_ranks = count[static_cast<std::size_t>(a)];
      g.adapters = {a};
      g.samples = samples[static_cast<std::size_t>(a)];
      for (int r = next; r < next + g.n_ranks; ++r) plan.group_of_rank[static_cast<std::size_t>(r)] = a;
      plan.group_of_adapter[static_cast<std::size_t>(a)] = a;
      next += g.n_ranks;
      plan.groups.push_back(std::move(g));
    }
    PERSONAS_ASSERT(next == n_ranks, "assigned {} of {} ranks", next, n_ranks);
    return plan;
  }

  // R < K: LPT. Largest adapters first (ties: lower index), each to the least
  // loaded rank (ties: lower rank).
  plan.groups.resize(static_cast<std::size_t>(n_ranks));
  for (int r = 0; r < n_ranks; ++r) {
    plan.groups[static_cast<std::size_t>(r)].first_rank = r;
    plan.group_of_rank[static_cast<std::size_t>(r)] = r;
  }
  std::vector<int> order(static_cast<std::size_t>(k));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
    return samples[static_cast<std::size_t>(x)] > samples[static_cast<std::size_t>(y)];
  });
  for (int a : order) {
    auto it = std::min_element(plan.groups.begin(), plan.groups.end(),
                               [](const RankGroup& x, const RankGroup& y) { return x.samples < y.samples; });
    it->adapters.push_back(a);
    it->samples += samples[static_cast<std::size_t>(a)];
    plan.group_of_adapter[static_cast<std::size_t>(a)] = static_cast<int>(it - plan.groups.begin());
  }
  // Each rank trains its adapters in index order (a stable, readable order).
  for (auto& g : plan.groups) std::sort(g.adapters.begin(), g.adapters.end());
  return plan;
}

}  // namespace personas
