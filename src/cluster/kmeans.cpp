#include "cluster/kmeans.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "backend/cpu/host_threads.h"
#include "backend/cpu/kmeans_assign.h"
#include "cluster/exact_sum.h"
#include "cluster/kmeans_init.h"
#include "cluster/serial_when_small.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/hash.h"
#include "core/seed_salts.h"

namespace personas {
namespace {

constexpr std::int64_t kChunkRows = 256;  // rows assigned, then summed while in L2 (256 KB at d = 256)

// s[t] += sum over the rows of fixed(row[t]): the exact, rank-independent sums
// of the update step. One rounding per value is what makes any grouping exact
// (integer sums do not depend on their order). The AVX2 version walks 16
// dimensions at a time over all the rows of one cluster with the partial sums
// in registers (rows are in L2), and folds the rounding constant out of the
// loop: 4 operations per 4 values instead of 7 with the sums in memory.
std::int64_t magic_bits() { return std::bit_cast<std::int64_t>(6755399441055744.0); }

void add_rows_fixed_portable(std::int64_t* s, const float* const* rows, std::int64_t n_rows, int d,
                             const FixedPoint& fixed) {
  for (std::int64_t r = 0; r < n_rows; ++r)
    for (int t = 0; t < d; ++t) s[t] += fixed.to_fixed(rows[r][t]);
}

__attribute__((target("avx2"))) void add_rows_fixed_avx2(std::int64_t* s, const float* const* rows,
                                                          std::int64_t n_rows, int d, const FixedPoint& fixed) {
  const __m256d scale = _mm256_set1_pd(fixed.scale());
  const __m256d magic = _mm256_set1_pd(6755399441055744.0);
  // Each value's bits carry + magic_bits(); n_rows of them are taken off at the end (wrapping int64).
  const __m256i unbias = _mm256_set1_epi64x(static_cast<std::int64_t>(static_cast<std::uint64_t>(magic_bits()) *
                                                                      static_cast<std::uint64_t>(n_rows)));
  int t = 0;
  for (; t + 16 <= d; t += 16) {
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (std::int64_t r = 0; r < n_rows; ++r) {
      const float* x = rows[r] + t;
      for (int j = 0; j < 4; ++j) {
        const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + 4 * j));
        acc[j] = _mm256_add_epi64(acc[j], _mm256_castpd_si256(_mm256_add_pd(_mm256_mul_pd(v, scale), magic)));
      }
    }
    for (int j = 0; j < 4; ++j) {
      auto* out = reinterpret_cast<__m256i*>(s + t + 4 * j);
      _mm256_storeu_si256(out, _mm256_add_epi64(_mm256_loadu_si256(out), _mm256_sub_epi64(acc[j], unbias)));
    }
  }
  for (std::int64_t r = 0; r < n_rows; ++r)
    for (int u = t; u < d; ++u) s[u] += fixed.to_fixed(rows[r][u]);
}

void add_rows_fixed(std::int64_t* s, const float* const* rows, std::int64_t n_rows, int d, const FixedPoint& fixed) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2)
    add_rows_fixed_avx2(s, rows, n_rows, d, fixed);
  else
    add_rows_fixed_portable(s, rows, n_rows, d, fixed);
}

struct StepTotals {
  std::vector<std::int64_t> sums;    // [k*d] fixed point
  std::vector<std::int64_t> counts;  // [k]
  std::int64_t objective = 0;        // fixed point
};

class Lloyd {
 public:
  Lloyd(Comm& comm, const ShardedPoints& p, int k, const KMeansAssignFn& assign, bool in_threads, double max_abs)
      : comm_(comm), p_(p), k_(k), assign_(assign), in_threads_(in_threads),
        coord_(std::max(max_abs, 1e-300), std::max<std::int64_t>(p.n_global, 1)),
        objective_(std::max(4.0 * p.d * max_abs * max_abs, 1e-300), std::max<std::int64_t>(p.n_global, 1)),
        labels_(static_cast<std::size_t>(p.n_local)), distances_(static_cast<std::size_t>(p.n_local)) {}

  // Assigns every local row and returns the global totals (collective).
  StepTotals assign_and_sum(const std::vector<float>& centroids) {
    const int d = p_.d;
    StepTotals total{std::vector<std::int64_t>(static_cast<std::size_t>(k_) * d, 0),
                     std::vector<std::int64_t>(static_cast<std::size_t>(k_), 0), 0};
    const std::int64_t n_chunks = (p_.n_local + kChunkRows - 1) / kChunkRows;
    if (!in_threads_) assign_(p_.data, p_.n_local, centroids.data(), k_, d, labels_.data(), distances_.data());
    const SingleThreadedBlas single_blas;  // BLAS runs inside our OpenMP threads
#pragma omp parallel
    {
      std::vector<std::int64_t> sums(total.sums.size(), 0), counts(total.counts.size(), 0);
      std::int64_t objective = 0;
      std::vector<std::int64_t> group_start(static_cast<std::size_t>(k_) + 1);
      std::vector<const float*> grouped(static_cast<std::size_t>(kChunkRows));
#pragma omp for schedule(dynamic, 4)
      for (std::int64_t chunk = 0; chunk < n_chunks; ++chunk) {
        const std::int64_t begin = chunk * kChunkRows;
        const std::int64_t rows = std::min(kChunkRows, p_.n_local - begin);
        if (in_threads_)
          assign_(p_.row(begin), rows, centroids.data(), k_, d, labels_.data() + begin, distances_.data() + begin);
        // The chunk's rows grouped by cluster (a counting sort), then summed per cluster.
        std::fill(group_start.begin(), group_start.end(), 0);
        for (std::int64_t r = begin; r < begin + rows; ++r) {
          const auto label = static_cast<std::size_t>(labels_[static_cast<std::size_t>(r)]);
          ++group_start[label + 1];
          objective += objective_.to_fixed(distances_[static_cast<std::size_t>(r)]);
        }
        for (std::size_t c = 0; c < static_cast<std::size_t>(k_); ++c) {
          counts[c] += group_start[c + 1];
          group_start[c + 1] += group_start[c];
        }
        for (std::int64_t r = begin; r < begin + rows; ++r)
          grouped[static_cast<std::size_t>(group_start[static_cast<std::size_t>(labels_[static_cast<std::size_t>(r)])]++)] =
              p_.row(r);
        for (std::size_t c = 0, first = 0; c < static_cast<std::size_t>(k_); ++c) {
          // group_start[c] is now the end of group c
          const auto end = static_cast<std::size_t>(group_start[c]);
          if (end > first) add_rows_fixed(sums.data() + c * d, grouped.data() + first, static_cast<std::int64_t>(end - first), d, coord_);
          first = end;
        }
      }
#pragma omp critical
      {
        for (std::size_t i = 0; i < sums.size(); ++i) total.sums[i] += sums[i];
        for (std::size_t i = 0; i < counts.size(); ++i) total.counts[i] += counts[i];
        total.objective += objective;
      }
    }
    std::vector<std::int64_t> packed = total.sums;
    packed.insert(packed.end(), total.counts.begin(), total.counts.end());
    packed.push_back(total.objective);
    comm_.allreduce(std::span<std::int64_t>(packed), ReduceOp::sum);
    std::copy_n(packed.begin(), total.sums.size(), total.sums.begin());
    std::copy_n(packed.begin() + static_cast<std::ptrdiff_t>(total.sums.size()), k_, total.counts.begin());
    total.objective = packed.back();
    return total;
  }

  // Re-seeds empty clusters with the farthest rows (collective); returns how many.
  int split_empty(StepTotals& totals, std::vector<float>& centroids) {
    std::vector<int> empty;
    for (int c = 0; c < k_; ++c)
      if (totals.counts[static_cast<std::size_t>(c)] == 0) empty.push_back(c);
    if (empty.empty()) return 0;
    const std::size_t e = empty.size();
    struct Far {
      double dist;
      std::int64_t index;
    };
    auto farther = [](const Far& a, const Far& b) { return a.dist > b.dist || (a.dist == b.dist && a.index < b.index); };
    std::vector<Far> local;
    for (std::int64_t i = 0; i < p_.n_local; ++i) local.push_back({distances_[static_cast<std::size_t>(i)], p_.first + i});
    const std::size_t keep = std::min(e, local.size());
    std::partial_sort(local.begin(), local.begin() + static_cast<std::ptrdiff_t>(keep), local.end(), farther);
    local.resize(e, Far{-1.0, -1});
    std::vector<Far> all(e * static_cast<std::size_t>(comm_.size()));
    comm_.allgather(local.data(), e * sizeof(Far), all.data());
    std::sort(all.begin(), all.end(), farther);
    const int d = p_.d;
    int n_split = 0;
    std::vector<std::int64_t> chosen;
    for (std::size_t j = 0; j < e; ++j)
      if (all[j].index >= 0 && all[j].dist > 0.0) chosen.push_back(all[j].index);
    const std::vector<float> rows = fetch_rows(comm_, p_, chosen);
    // The old label of each chosen row (owner knows it) and its distance term.
    std::vector<std::int64_t> info(chosen.size() * 2, 0);
    for (std::size_t j = 0; j < chosen.size(); ++j) {
      const std::int64_t local_i = chosen[j] - p_.first;
      if (local_i >= 0 && local_i < p_.n_local) {
        info[2 * j] = labels_[static_cast<std::size_t>(local_i)];
        info[2 * j + 1] = objective_.to_fixed(distances_[static_cast<std::size_t>(local_i)]);
        labels_[static_cast<std::size_t>(local_i)] = empty[j];
        distances_[static_cast<std::size_t>(local_i)] = 0.0f;
      }
    }
    comm_.allreduce(std::span<std::int64_t>(info), ReduceOp::sum);
    for (std::size_t j = 0; j < chosen.size(); ++j) {
      const auto from = static_cast<std::size_t>(info[2 * j]);
      const auto to = static_cast<std::size_t>(empty[j]);
      const float* x = rows.data() + j * d;
      for (int t = 0; t < d; ++t) {
        const std::int64_t q = coord_.to_fixed(x[t]);
        totals.sums[from * d + t] -= q;
        totals.sums[to * d + t] += q;
      }
      --totals.counts[from];
      ++totals.counts[to];
      totals.objective -= info[2 * j + 1];
      ++n_split;
    }
    return n_split;
  }

  void update(const StepTotals& totals, std::vector<float>& centroids, bool spherical) const {
    const int d = p_.d;
    for (int c = 0; c < k_; ++c) {
      const std::int64_t count = totals.counts[static_cast<std::size_t>(c)];
      if (count == 0) continue;  // keeps its centroid (nothing to split it from)
      float* out = centroids.data() + static_cast<std::size_t>(c) * d;
      for (int t = 0; t < d; ++t)
        out[t] = static_cast<float>(coord_.to_double(totals.sums[static_cast<std::size_t>(c) * d + t]) /
                                    static_cast<double>(count));
      if (spherical) normalize_rows(out, 1, d);
    }
  }

  double objective(const StepTotals& totals) const { return objective_.to_double(totals.objective); }
  std::vector<std::int32_t>& labels() { return labels_; }
  std::vector<float>& distances() { return distances_; }

 private:

  Comm& comm_;
  const ShardedPoints& p_;
  int k_;
  const KMeansAssignFn& assign_;
  bool in_threads_;
  FixedPoint coord_;
  FixedPoint objective_;
  std::vector<std::int32_t> labels_;
  std::vector<float> distances_;
};

bool all_finite(const float* data, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i)
    if (!std::isfinite(data[i])) return false;
  return true;
}

}  // namespace

void normalize_rows(float* data, std::int64_t rows, int d) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* x = data + r * d;
    double s = 0.0;
    for (int t = 0; t < d; ++t) s += static_cast<double>(x[t]) * x[t];
    if (s > 0.0) {
      const double inv = 1.0 / std::sqrt(s);
      for (int t = 0; t < d; ++t) x[t] = static_cast<float>(x[t] * inv);
    }
  }
}

KMeansAssignFn cpu_assign_fn() {
  return [](const float* points, std::int64_t n, const float* centroids, int k, int d, std::int32_t* labels,
            float* distances) { cpu_kmeans_assign(points, n, centroids, k, d, labels, distances); };
}

KMeansResult kmeans_fit(Comm& comm, const float* points, std::int64_t n_local, int d, std::int64_t first,
                        const KMeansOptions& o, const KMeansAssignFn& assign) {
  const std::int64_t n_global = comm.allreduce_sum(n_local);
  PERSONAS_CHECK(d >= 1, config, "k-means: vectors have dimension {}; need at least 1", d);
  PERSONAS_CHECK(n_global >= 1, data, "k-means: there are no points to cluster");
  PERSONAS_CHECK_HINT(o.k >= 1 && o.k <= n_global, config, "lower cluster.k (or the top of cluster.k_range)",
                      "cluster.k = {} but there are {} points; need 1 <= k <= points", o.k, n_global);
  PERSONAS_CHECK(o.max_iter >= 0 && o.n_redo >= 1 && o.tol >= 0.0, config,
                 "k-means: need max_iter >= 0 ({}), n_redo >= 1 ({}), tol >= 0 ({})", o.max_iter, o.n_redo, o.tol);
  const double bad = comm.allreduce_sum(all_finite(points, n_local * d) ? 0.0 : 1.0);
  PERSONAS_CHECK(bad == 0.0, data, "k-means: {} rank(s) hold vectors with NaN or infinite values", bad);
  if (!o.initial_centroids.empty())
    PERSONAS_CHECK(o.initial_centroids.size() == static_cast<std::size_t>(o.k) * d, config,
                   "k-means: {} initial centroid values given, expected k*d = {}", o.initial_centroids.size(),
                   static_cast<std::int64_t>(o.k) * d);
  const bool warm = !o.warm_start.empty() && o.k >= 2;
  if (warm)
    PERSONAS_CHECK(o.warm_start.size() == static_cast<std::size_t>(o.k - 1) * d, internal,
                   "k-means: {} warm-start values given, expected (k-1)*d = {}", o.warm_start.size(),
                   static_cast<std::int64_t>(o.k - 1) * d);

  std::vector<float> normalized;
  if (o.spherical) {
    normalized.assign(points, points + n_local * d);
    normalize_rows(normalized.data(), n_local, d);
    points = normalized.data();
  }
  const ShardedPoints p{points, n_local, n_global, first, d};
  double max_abs = 0.0;
  for (std::int64_t i = 0; i < n_local * d; ++i) max_abs = std::max(max_abs, std::fabs(static_cast<double>(points[i])));
  max_abs = comm.allreduce_max(max_abs);

  const SerialWhenSmall serial(static_cast<double>(n_local) * o.k * d);
  KMeansResult best;
  best.inertia = std::numeric_limits<double>::infinity();
  // Restarts 0..n_redo-1 from the initialisation; one more from the warm start.
  const int starts = o.n_redo + (warm ? 1 : 0);
  for (int redo = 0; redo < starts; ++redo) {
    const std::uint64_t seed = redo == 0 ? o.seed : hash_chain(o.seed, seed_salt::kRestart, static_cast<std::uint64_t>(redo));
    std::vector<float> centroids;
    if (redo == o.n_redo)
      centroids = extend_centroids(comm, p, o.warm_start, o.k - 1, seed);
    else if (!o.initial_centroids.empty())
      centroids = o.initial_centroids;
    else
      centroids = init_centroids(comm, p, o.k, o.init, seed, o.init_rounds, o.oversampling);
    if (o.spherical) normalize_rows(centroids.data(), o.k, d);
    KMeansResult r;
    r.k = o.k;
    r.d = d;
    r.initial_centroids = centroids;
    Lloyd lloyd(comm, p, o.k, assign, o.assign_in_threads, max_abs);
    double previous = std::numeric_limits<double>::infinity();
    StepTotals totals;
    bool assigned_last = false;
    for (int it = 0; it < o.max_iter; ++it) {
      const auto t0 = std::chrono::steady_clock::now();
      totals = lloyd.assign_and_sum(centroids);
      const double objective = lloyd.objective(totals);
      const int n_split = lloyd.split_empty(totals, centroids);
      r.history.push_back({it, objective, n_split, 0.0});
      r.iterations = it + 1;
      const bool small_change = std::isfinite(previous) && previous - objective <= o.tol * previous;
      if (n_split == 0 && o.tol > 0 && small_change) {
        r.converged = true;
        assigned_last = true;
        r.history.back().seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        break;
      }
      previous = objective;
      lloyd.update(totals, centroids, o.spherical);
      r.history.back().seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      plog::debug("k-means k={} redo {} iteration {}: objective {:.6g}, {} split", o.k, redo, it, objective, n_split);
    }
    if (!assigned_last) totals = lloyd.assign_and_sum(centroids);  // labels for the final centroids
    r.inertia = lloyd.objective(totals);
    r.sizes = totals.counts;
    r.centroids = centroids;
    r.labels = std::move(lloyd.labels());
    r.distances = std::move(lloyd.distances());
    r.redo = redo;
    if (r.inertia < best.inertia) best = std::move(r);
  }
  int n_empty = 0;
  for (auto s : best.sizes) n_empty += s == 0 ? 1 : 0;
  if (n_empty > 0)
    plog::warn("k-means: {} of {} clusters are empty (fewer distinct points than k = {})", n_empty, o.k, o.k);
  return best;
}

}  // namespace personas
