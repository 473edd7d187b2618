#include "cluster/kmeans_init.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "backend/cpu/kmeans_assign.h"
#include "cluster/exact_sum.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/log.h"

namespace personas {
namespace {

// Purposes keep the hash streams of different draws apart.
enum Purpose : std::uint64_t { kFirst = 1, kRandom = 2, kPlusPlus = 100, kParallel = 10000, kLocal = 20000 };

struct KeyIndex {
  double key;
  std::int64_t index;
};
bool key_less(const KeyIndex& a, const KeyIndex& b) { return a.key < b.key || (a.key == b.key && a.index < b.index); }

// The global minimum of (key, index) over ranks; {inf, -1} when no rank has one.
KeyIndex global_min(Comm& comm, KeyIndex local) {
  std::vector<KeyIndex> all(static_cast<std::size_t>(comm.size()));
  comm.allgather(&local, sizeof(KeyIndex), all.data());
  KeyIndex best{std::numeric_limits<double>::infinity(), -1};
  for (const auto& c : all)
    if (c.index >= 0 && (best.index < 0 || key_less(c, best))) best = c;
  return best;
}

// D2[i] = min(D2[i], |x_i - c|^2)
void update_min_distance(const ShardedPoints& p, const float* centre, std::vector<double>& d2) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < p.n_local; ++i) {
    const double e = exact_squared_distance(p.row(i), centre, p.d);
    if (e < d2[static_cast<std::size_t>(i)]) d2[static_cast<std::size_t>(i)] = e;
  }
}

// Weighted sample by exponential keys: the row minimising -log(u)/w has
// probability w / sum(w) (Efraimidis & Spirakis). Rows with w = 0 never win.
KeyIndex weighted_draw(Comm& comm, const ShardedPoints& p, const std::vector<double>& w, std::uint64_t seed,
                       std::uint64_t purpose) {
  KeyIndex local{std::numeric_limits<double>::infinity(), -1};
  for (std::int64_t i = 0; i < p.n_local; ++i) {
    const double wi = w[static_cast<std::size_t>(i)];
    if (!(wi > 0.0)) continue;
    const std::int64_t g = p.first + i;
    const KeyIndex c{-std::log(hash_uniform(seed, purpose, static_cast<std::uint64_t>(g))) / wi, g};
    if (local.index < 0 || key_less(c, local)) local = c;
  }
  return global_min(comm, local);
}

double max_abs(Comm& comm, const ShardedPoints& p) {
  double m = 0.0;
  for (std::int64_t i = 0; i < p.n_local * p.d; ++i) m = std::max(m, std::fabs(static_cast<double>(p.data[i])));
  return comm.allreduce_max(m);
}

std::vector<float> init_plus_plus(Comm& comm, const ShardedPoints& p, int k, std::uint64_t seed) {
  const int d = p.d;
  std::vector<std::int64_t> chosen = sample_rows(comm, p, 1, seed, kFirst);
  std::vector<float> centroids = fetch_rows(comm, p, chosen);
  std::vector<double> d2(static_cast<std::size_t>(p.n_local), std::numeric_limits<double>::infinity());
  update_min_distance(p, centroids.data(), d2);
  for (int c = 1; c < k; ++c) {
    KeyIndex pick = weighted_draw(comm, p, d2, seed, kPlusPlus + static_cast<std::uint64_t>(c));
    if (pick.index < 0) {
      // Every row sits on a chosen centre (fewer distinct rows than k): take a
      // not yet chosen row uniformly; it duplicates a centre and may stay empty.
      std::vector<std::int64_t> sorted = chosen;
      std::sort(sorted.begin(), sorted.end());
      pick.index = sample_rows(comm, p, 1, seed, kPlusPlus + static_cast<std::uint64_t>(c), sorted).at(0);
    }
    chosen.push_back(pick.index);
    std::vector<float> row = fetch_rows(comm, p, {pick.index});
    centroids.insert(centroids.end(), row.begin(), row.end());
    update_min_distance(p, centroids.data() + static_cast<std::size_t>(c) * d, d2);
  }
  return centroids;
}

// Weighted k-means++ then weighted Lloyd on a small replicated set (identical on every rank).
std::vector<float> reduce_candidates(const std::vector<float>& cand, const std::vector<double>& weight, int k, int d,
                                     std::uint64_t seed) {
  const std::int64_t m = static_cast<std::int64_t>(weight.size());
  std::vector<float> centroids(cand.begin(), cand.begin() + d);
  {
    // first: weighted by w alone
    double best = std::numeric_limits<double>::infinity();
    std::int64_t first = 0;
    for (std::int64_t i = 0; i < m; ++i) {
      if (!(weight[static_cast<std::size_t>(i)] > 0)) continue;
      const double key = -std::log(hash_uniform(seed, kLocal, static_cast<std::uint64_t>(i))) / weight[static_cast<std::size_t>(i)];
      if (key < best) best = key, first = i;
    }
    std::copy_n(cand.begin() + first * d, d, centroids.begin());
  }
  std::vector<double> d2(static_cast<std::size_t>(m), std::numeric_limits<double>::infinity());
  auto update = [&](const float* c) {
    for (std::int64_t i = 0; i < m; ++i)
      d2[static_cast<std::size_t>(i)] =
          std::min(d2[static_cast<std::size_t>(i)], exact_squared_distance(cand.data() + i * d, c, d));
  };
  update(centroids.data());
  std::vector<bool> used(static_cast<std::size_t>(m), false);
  for (int c = 1; c < k; ++c) {
    double best = std::numeric_limits<double>::infinity();
    std::int64_t pick = -1;
    for (std::int64_t i = 0; i < m; ++i) {
      const double w = weight[static_cast<std::size_t>(i)] * d2[static_cast<std::size_t>(i)];
      if (!(w > 0)) continue;
      const double key = -std::log(hash_uniform(seed, kLocal + 1 + static_cast<std::uint64_t>(c), static_cast<std::uint64_t>(i))) / w;
      if (key < best) best = key, pick = i;
    }
    if (pick < 0) pick = c % m;  // all candidates covered (only with duplicates)
    centroids.insert(centroids.end(), cand.begin() + pick * d, cand.begin() + (pick + 1) * d);
    update(centroids.data() + static_cast<std::size_t>(c) * d);
  }
  // A few weighted Lloyd steps (as Spark MLlib does on the candidates).
  std::vector<std::int32_t> labels(static_cast<std::size_t>(m));
  std::vector<float> dist(static_cast<std::size_t>(m));
  for (int it = 0; it < 10; ++it) {
    cpu_kmeans_assign(cand.data(), m, centroids.data(), k, d, labels.data(), dist.data());
    std::vector<double> sums(static_cast<std::size_t>(k) * d, 0.0), wsum(static_cast<std::size_t>(k), 0.0);
    for (std::int64_t i = 0; i < m; ++i) {
      const auto l = static_cast<std::size_t>(labels[static_cast<std::size_t>(i)]);
      const double w = weight[static_cast<std::size_t>(i)];
      wsum[l] += w;
      for (int t = 0; t < d; ++t) sums[l * d + t] += w * cand[static_cast<std::size_t>(i * d + t)];
    }
    for (int c = 0; c < k; ++c)
      if (wsum[static_cast<std::size_t>(c)] > 0)
        for (int t = 0; t < d; ++t)
          centroids[static_cast<std::size_t>(c) * d + t] =
              static_cast<float>(sums[static_cast<std::size_t>(c) * d + t] / wsum[static_cast<std::size_t>(c)]);
  }
  return centroids;
}

std::vector<float> init_parallel(Comm& comm, const ShardedPoints& p, int k, std::uint64_t seed, int rounds,
                                 double oversampling) {
  const int d = p.d;
  std::vector<std::int64_t> cand_index = sample_rows(comm, p, 1, seed, kFirst);
  std::vector<float> cand = fetch_rows(comm, p, cand_index);
  std::vector<double> d2(static_cast<std::size_t>(p.n_local), std::numeric_limits<double>::infinity());
  update_min_distance(p, cand.data(), d2);
  const double bound = std::max(4.0 * d * std::pow(max_abs(comm, p), 2), 1e-300);
  const FixedPoint fp(bound, std::max<std::int64_t>(p.n_global, 1));
  const double l = oversampling * k;
  for (int r = 0; r < rounds; ++r) {
    std::int64_t phi_fixed = 0;
    for (double v : d2) phi_fixed += fp.to_fixed(v);
    std::vector<std::int64_t> phi_v{phi_fixed};
    comm.allreduce(std::span<std::int64_t>(phi_v), ReduceOp::sum);
    const double phi = fp.to_double(phi_v[0]);
    if (!(phi > 0)) break;  // every row is a candidate already
    // Selected rows: (global index, row) records.
    std::vector<std::byte> send;
    const std::size_t record = sizeof(std::int64_t) + sizeof(float) * static_cast<std::size_t>(d);
    for (std::int64_t i = 0; i < p.n_local; ++i) {
      const double prob = std::min(1.0, l * d2[static_cast<std::size_t>(i)] / phi);
      const std::int64_t g = p.first + i;
      if (prob > 0 && hash_uniform(seed, kParallel + static_cast<std::uint64_t>(r), static_cast<std::uint64_t>(g)) < prob) {
        const std::size_t at = send.size();
        send.resize(at + record);
        std::memcpy(send.data() + at, &g, sizeof g);
        std::memcpy(send.data() + at + sizeof g, p.row(i), sizeof(float) * static_cast<std::size_t>(d));
      }
    }
    const std::size_t before = cand_index.size();
    for (const auto& part : comm.allgatherv(send)) {  // rank order = global index order
      for (std::size_t at = 0; at + record <= part.size(); at += record) {
        std::int64_t g = 0;
        std::memcpy(&g, part.data() + at, sizeof g);
        cand_index.push_back(g);
        const std::size_t c0 = cand.size();
        cand.resize(c0 + static_cast<std::size_t>(d));
        std::memcpy(cand.data() + c0, part.data() + at + sizeof g, sizeof(float) * static_cast<std::size_t>(d));
      }
    }
    for (std::size_t c = before; c < cand_index.size(); ++c) update_min_distance(p, cand.data() + c * d, d2);
  }
  if (static_cast<std::int64_t>(cand_index.size()) < k) {
    std::vector<std::int64_t> sorted = cand_index;
    std::sort(sorted.begin(), sorted.end());
    auto extra = sample_rows(comm, p, k - static_cast<std::int64_t>(cand_index.size()), seed, kRandom, sorted);
    auto rows = fetch_rows(comm, p, extra);
    cand_index.insert(cand_index.end(), extra.begin(), extra.end());
    cand.insert(cand.end(), rows.begin(), rows.end());
  }
  const std::int64_t m = static_cast<std::int64_t>(cand_index.size());
  // Weight of a candidate = rows closest to it.
  std::vector<std::int32_t> labels(static_cast<std::size_t>(p.n_local));
  std::vector<float> dist(static_cast<std::size_t>(p.n_local));
  cpu_kmeans_assign(p.data, p.n_local, cand.data(), m, d, labels.data(), dist.data());
  std::vector<std::int64_t> counts(static_cast<std::size_t>(m), 0);
  for (auto label : labels) ++counts[static_cast<std::size_t>(label)];
  comm.allreduce(std::span<std::int64_t>(counts), ReduceOp::sum);
  std::vector<double> weight(counts.begin(), counts.end());
  plog::debug("kmeans||: {} candidates after {} rounds", m, rounds);
  if (m == k) return cand;
  return reduce_candidates(cand, weight, k, d, seed);
}

}  // namespace

std::uint64_t hash_mix(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index) {
  return hash_chain(seed, purpose, index);
}

double hash_uniform(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index) {
  return (static_cast<double>(hash_mix(seed, purpose, index) >> 11) + 0.5) * 0x1.0p-53;
}

std::vector<float> fetch_rows(Comm& comm, const ShardedPoints& p, const std::vector<std::int64_t>& indices) {
  std::vector<float> rows(indices.size() * static_cast<std::size_t>(p.d), 0.0f);
  for (std::size_t j = 0; j < indices.size(); ++j) {
    const std::int64_t local = indices[j] - p.first;
    if (local >= 0 && local < p.n_local) std::copy_n(p.row(local), p.d, rows.begin() + static_cast<std::ptrdiff_t>(j * p.d));
  }
  // Exactly one rank holds a non-zero copy of each row; x + 0 = x.
  comm.allreduce(std::span<float>(rows), ReduceOp::sum);
  return rows;
}

std::vector<std::int64_t> sample_rows(Comm& comm, const ShardedPoints& p, std::int64_t count, std::uint64_t seed,
                                      std::uint64_t purpose, const std::vector<std::int64_t>& exclude) {
  std::vector<KeyIndex> local;
  for (std::int64_t i = 0; i < p.n_local; ++i) {
    const std::int64_t g = p.first + i;
    if (std::binary_search(exclude.begin(), exclude.end(), g)) continue;
    local.push_back({static_cast<double>(hash_mix(seed, purpose, static_cast<std::uint64_t>(g))), g});
  }
  const std::size_t keep = static_cast<std::size_t>(std::min<std::int64_t>(count, static_cast<std::int64_t>(local.size())));
  std::partial_sort(local.begin(), local.begin() + static_cast<std::ptrdiff_t>(keep), local.end(), key_less);
  local.resize(keep);
  std::vector<std::byte> send(keep * sizeof(KeyIndex));
  if (keep > 0) std::memcpy(send.data(), local.data(), send.size());
  std::vector<KeyIndex> all;
  for (const auto& part : comm.allgatherv(send)) {
    const std::size_t n = part.size() / sizeof(KeyIndex);
    const std::size_t at = all.size();
    all.resize(at + n);
    if (n > 0) std::memcpy(all.data() + at, part.data(), n * sizeof(KeyIndex));
  }
  std::sort(all.begin(), all.end(), key_less);
  std::vector<std::int64_t> out;
  for (std::size_t j = 0; j < all.size() && static_cast<std::int64_t>(out.size()) < count; ++j) out.push_back(all[j].index);
  return out;
}

std::vector<float> init_centroids(Comm& comm, const ShardedPoints& points, int k, const std::string& init,
                                  std::uint64_t seed, int rounds, double oversampling) {
  if (init == "random") return fetch_rows(comm, points, sample_rows(comm, points, k, seed, kRandom));
  if (init == "kmeans++") return init_plus_plus(comm, points, k, seed);
  if (init == "kmeans||") return init_parallel(comm, points, k, seed, rounds, oversampling);
  PERSONAS_FAIL(config, "cluster.init: unknown initialisation '{}' (use kmeans||, kmeans++ or random)", init);
}

}  // namespace personas
