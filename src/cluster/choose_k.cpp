#include "cluster/choose_k.h"

#include <algorithm>
#include <chrono>

#include "cluster/cluster_metrics.h"
#include "cluster/kmeans_init.h"
#include "core/errors.h"
#include "core/log.h"

namespace personas {

KMeansOptions kmeans_options(const ClusterConfig& c, int k, std::uint64_t seed) {
  KMeansOptions o;
  o.k = k;
  o.init = c.init;
  o.max_iter = c.max_iter;
  o.tol = c.tol;
  o.n_redo = c.n_redo;
  o.spherical = c.spherical;
  o.seed = seed;
  o.init_rounds = c.init_rounds;
  o.oversampling = c.oversampling;
  return o;
}

ClusterChoice cluster_with_k_choice(Comm& comm, const float* points, std::int64_t n_local, int d, std::int64_t first,
                                    const ClusterConfig& config, std::uint64_t seed, const KMeansAssignFn& assign,
                                    bool assign_in_threads) {
  const std::int64_t n_global = comm.allreduce_sum(n_local);
  PERSONAS_CHECK_HINT(n_global >= 1, data, "check that the embed stage wrote vectors for the users",
                      "cluster: no user vectors to cluster");
  const int fixed = config.fixed_k();
  int k_lo = fixed > 0 ? fixed : config.k_min;
  int k_hi = fixed > 0 ? fixed : config.k_max;
  if (fixed == 0 && k_hi > n_global) {
    plog::warn("cluster: only {} users; k range {}..{} cut to {}..{}", n_global, k_lo, k_hi, std::min<std::int64_t>(k_lo, n_global), n_global);
    k_hi = static_cast<int>(n_global);
    k_lo = std::min(k_lo, k_hi);
  }
  // The geometry of the clustering (unit vectors when spherical) is also the silhouette's.
  std::vector<float> unit;
  if (config.spherical) {
    unit.assign(points, points + n_local * d);
    normalize_rows(unit.data(), n_local, d);
    points = unit.data();
  }
  const ShardedPoints sharded{points, n_local, n_global, first, d};
  std::vector<std::int64_t> sample = sample_rows(comm, sharded, config.silhouette_sample, seed, 0x73696C68ULL);
  std::sort(sample.begin(), sample.end());
  const std::vector<float> sample_points = fetch_rows(comm, sharded, sample);

  ClusterChoice choice;
  choice.silhouette_rows = static_cast<std::int64_t>(sample.size());
  std::vector<KMeansResult> results;
  for (int k = k_lo; k <= k_hi; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    KMeansOptions options = kmeans_options(config, k, seed);
    options.assign_in_threads = assign_in_threads;
    KMeansResult r = kmeans_fit(comm, points, n_local, d, first, options, assign);
    KCurvePoint point{k, r.inertia, 0.0, r.iterations, 0.0};
    if (k >= 2) {
      std::vector<std::int64_t> labels(sample.size(), 0);
      for (std::size_t j = 0; j < sample.size(); ++j) {
        const std::int64_t local = sample[j] - first;
        if (local >= 0 && local < n_local) labels[j] = r.labels[static_cast<std::size_t>(local)];
      }
      comm.allreduce(std::span<std::int64_t>(labels), ReduceOp::sum);
      const std::vector<std::int32_t> labels32(labels.begin(), labels.end());
      point.silhouette = silhouette_score(comm, sample_points, d, labels32);
    }
    point.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    plog::info("cluster: k = {:2d}  inertia {:.6g}  silhouette {:.4f}  ({} iterations, {:.2f} s)", k, point.inertia,
               point.silhouette, point.iterations, point.seconds);
    choice.curve.push_back(point);
    results.push_back(std::move(r));
  }
  std::size_t pick = 0;
  auto best_silhouette = [&] {
    std::size_t best = 0;
    for (std::size_t i = 1; i < choice.curve.size(); ++i)
      if (choice.curve[i].silhouette > choice.curve[best].silhouette) best = i;
    return best;
  };
  if (fixed > 0) {
    choice.reason = fmt::format("cluster.k = {}", fixed);
  } else if (config.select == "silhouette") {
    pick = best_silhouette();
    choice.reason = fmt::format("highest mean silhouette ({:.4f}) over k = {}..{}", choice.curve[pick].silhouette,
                                k_lo, k_hi);
  } else {
    std::vector<double> xs, ys;
    for (const auto& p : choice.curve) xs.push_back(p.k), ys.push_back(p.inertia);
    const int knee = kneedle_elbow(xs, ys);
    if (knee >= 0) {
      pick = static_cast<std::size_t>(knee);
      choice.reason = fmt::format("kneedle elbow of the inertia curve over k = {}..{}", k_lo, k_hi);
    } else {
      pick = best_silhouette();
      choice.reason = fmt::format("no elbow in the inertia curve over k = {}..{}; highest silhouette instead", k_lo, k_hi);
      plog::warn("cluster: {}", choice.reason);
    }
  }
  choice.chosen_k = choice.curve[pick].k;
  choice.result = std::move(results[pick]);
  plog::info("cluster: k = {} ({})", choice.chosen_k, choice.reason);
  return choice;
}

}  // namespace personas
