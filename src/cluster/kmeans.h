// Distributed k-means (Lloyd) over points sharded by rank in contiguous blocks
// of a global order (rank r holds global rows [first, first + n_local)).
//
// Given the seed the result is the same, bit for bit, for any number of ranks:
//  * every random choice is a hash of (seed, purpose, global row index), never
//    a per-rank random stream (kmeans_init.h);
//  * sums of coordinates, counts and the objective are exact fixed-point
//    integer sums (exact_sum.h), allreduced as int64 and turned into double;
//  * the assignment of a row depends on that row and the centroids only
//    (cpu_kmeans_assign's exact tie-breaking).
// Empty clusters are re-seeded deterministically with the points farthest from
// their centroids (largest distance first, lowest global index on ties): the
// farthest point is split off its cluster. A cluster stays empty only when
// every point already sits on a centroid (K above the number of distinct points).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cluster/kmeans_init_kind.h"
#include "comm/comm.h"

namespace personas {

// The assignment step: labels and squared distances of `n` rows against `k`
// centroids (Backend::kmeans_assign semantics). Swapped for a Backend-backed
// one by make_kmeans_assign (kmeans_assign_step.h).
using KMeansAssignFn = std::function<void(const float* points, std::int64_t n, const float* centroids, int k,
                                          int d, std::int32_t* labels, float* distances)>;

struct KMeansOptions {
  int k = 8;
  KMeansInit init = KMeansInit::parallel;
  int max_iter = 100;             // Lloyd iterations (assign + update) per restart
  double tol = 1e-6;              // stop when |J_prev - J| <= tol * J_prev (0 = run max_iter)
  int n_redo = 1;                 // restarts with derived seeds; the lowest objective wins
  bool spherical = false;         // points and centroids on the unit sphere (cosine k-means)
  std::uint64_t seed = 1234;
  int init_rounds = 5;            // k-means|| rounds
  double oversampling = 2.0;      // k-means||: expected candidates per round = oversampling * k
  // Starting centroids [k, d] (overrides init; used to compare with scikit-learn).
  std::vector<float> initial_centroids;
  // Centroids [k-1, d] of a fit at k - 1 (choose_k passes the previous k's):
  // one start more, from them plus one centre by a greedy k-means++ step
  // (extend_centroids). It begins below the fit at k - 1, so the kept inertia
  // is below it too: the inertia curve over k cannot rise.
  std::vector<float> warm_start;
  // true: the assignment runs on chunks of rows inside our OpenMP threads, fused
  // with the sums while the rows are in cache (host kernels). false: one call
  // per rank for all its rows (device backends).
  bool assign_in_threads = true;
};

struct KMeansIteration {
  int iteration = 0;
  double objective = 0.0;      // inertia of this assignment (before the update)
  int n_split = 0;             // empty clusters re-seeded after this assignment
  double seconds = 0.0;
};

struct KMeansResult {
  int k = 0;
  int d = 0;
  std::vector<float> centroids;          // [k, d]
  std::vector<std::int32_t> labels;      // this rank's rows
  std::vector<float> distances;          // this rank's rows: squared distance to own centroid
  std::vector<std::int64_t> sizes;       // [k] global
  double inertia = 0.0;                  // global sum of squared distances
  int iterations = 0;                    // of the kept restart
  int redo = 0;                          // which restart was kept
  bool converged = false;
  std::vector<KMeansIteration> history;  // of the kept restart
  std::vector<float> initial_centroids;  // of the kept restart
};

// Collective. `points` is this rank's [n_local, d] block; `first` its global
// row offset; every rank passes the same options. Throws ErrorKind::config when
// k < 1 or k > global rows, ErrorKind::data on non-finite values.
KMeansResult kmeans_fit(Comm& comm, const float* points, std::int64_t n_local, int d, std::int64_t first,
                        const KMeansOptions& options, const KMeansAssignFn& assign);

// The default assignment step: cpu_kmeans_assign.
KMeansAssignFn cpu_assign_fn();

// Scales each row to unit L2 norm in place (rows of zeros are left as they are).
void normalize_rows(float* data, std::int64_t rows, int d);

}  // namespace personas
