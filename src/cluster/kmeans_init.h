// Initial centroids for distributed k-means, independent of the rank layout:
// each random draw is a hash of (seed, purpose, global row index), and choices
// among ranks go through allgathers ordered by (key, global index).
//   random    k distinct rows, uniformly.
//   kmeans++  Arthur & Vassilvitskii, greedy as scikit-learn: each step draws
//             2 + floor(ln k) rows with probability proportional to D(x)^2
//             (weighted sampling by exponential keys) and keeps the one that
//             lowers the potential sum D^2 most (exact fixed-point sums).
//   kmeans||  Bahmani et al.: `rounds` rounds keeping each row with probability
//             min(1, l D(x)^2 / phi), l = oversampling * k; the candidates are
//             weighted by the rows closest to them and reduced to k by the best
//             of 10 greedy weighted k-means++ seedings, each followed by weighted
//             Lloyd on the candidates to convergence (same on every rank).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/hash.h"
#include "comm/comm.h"
#include "cluster/kmeans_init_kind.h"

namespace personas {

struct ShardedPoints {
  const float* data = nullptr;  // [n_local, d]
  std::int64_t n_local = 0;
  std::int64_t n_global = 0;
  std::int64_t first = 0;       // global index of row 0
  int d = 0;
  const float* row(std::int64_t i) const { return data + i * d; }
};

// Uniform in (0, 1) from the same hash.
double hash_uniform(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index);

// Rows of the given global indices, [indices.size(), d], on every rank (collective).
std::vector<float> fetch_rows(Comm& comm, const ShardedPoints& points, const std::vector<std::int64_t>& indices);

// `count` distinct global row indices with the smallest hash keys (a uniform
// sample without replacement), in key order; excludes those in `exclude` (sorted).
std::vector<std::int64_t> sample_rows(Comm& comm, const ShardedPoints& points, std::int64_t count,
                                      std::uint64_t seed, std::uint64_t purpose,
                                      const std::vector<std::int64_t>& exclude = {});

// Collective: [k, d] initial centroids.
std::vector<float> init_centroids(Comm& comm, const ShardedPoints& points, int k, KMeansInit init,
                                  std::uint64_t seed, int rounds, double oversampling);

// Collective: `centroids` [k, d] plus one centre, chosen by a greedy k-means++
// step (2 + floor(ln(k + 1)) rows drawn by D^2 to the given centroids, the one
// that lowers sum D^2 most kept): [k + 1, d]. A fit at k + 1 started from these
// begins below the fit at k, so the best inertia over k never increases.
std::vector<float> extend_centroids(Comm& comm, const ShardedPoints& points, const std::vector<float>& centroids,
                                    int k, std::uint64_t seed);

}  // namespace personas
