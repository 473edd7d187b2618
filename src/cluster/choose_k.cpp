#include "cluster/choose_k.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "backend/cpu/kmeans_assign.h"
#include "cluster/cluster_metrics.h"
#include "cluster/kmeans_init.h"
#include "core/errors.h"
#include "core/log.h"

namespace personas {

namespace {

// Ward's merge of a fit: the pair of clusters whose union raises the inertia
// least (n_a n_b / (n_a + n_b) |c_a - c_b|^2; lowest pair on ties) becomes one
// centroid at their weighted mean (scaled to unit length when spherical). The
// centroids and sizes are the same on every rank, so is the result.
std::vector<float> merge_closest_pair(const KMeansResult& r, bool spherical) {
  const int k = r.k, d = r.d;
  int best_a = 0, best_b = 1;
  double best = std::numeric_limits<double>::infinity();
  for (int a = 0; a < k; ++a)
    for (int b = a + 1; b < k; ++b) {
      const double na = static_cast<double>(r.sizes[static_cast<std::size_t>(a)]);
      const double nb = static_cast<double>(r.sizes[static_cast<std::size_t>(b)]);
      const double cost = na + nb > 0 ? na * nb / (na + nb) *
                                            exact_squared_distance(r.centroids.data() + static_cast<std::size_t>(a) * d,
                                                                   r.centroids.data() + static_cast<std::size_t>(b) * d, d)
                                      : 0.0;
      if (cost < best) best = cost, best_a = a, best_b = b;
    }
  std::vector<float> out;
  const double na = static_cast<double>(r.sizes[static_cast<std::size_t>(best_a)]);
  const double nb = static_cast<double>(r.sizes[static_cast<std::size_t>(best_b)]);
  const double wa = na + nb > 0 ? na / (na + nb) : 0.5;
  for (int c = 0; c < k; ++c) {
    if (c == best_b) continue;
    const float* x = r.centroids.data() + static_cast<std::size_t>(c) * d;
    if (c != best_a) {
      out.insert(out.end(), x, x + d);
      continue;
    }
    const float* y = r.centroids.data() + static_cast<std::size_t>(best_b) * d;
    for (int t = 0; t < d; ++t) out.push_back(static_cast<float>(wa * x[t] + (1.0 - wa) * y[t]));
    if (spherical) normalize_rows(out.data() + out.size() - static_cast<std::size_t>(d), 1, d);
  }
  return out;
}

}  // namespace

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
  // Up: each k from its restarts plus a warm start, k - 1's centroids and one
  // more centre (the curve cannot rise). Down: each k once more from k + 1's
  // centroids with their closest pair merged (Ward), kept when lower; below the
  // true number of groups this finds the cheapest merge, which restarts can
  // miss. Whatever the down pass lowers, the k above are refitted from it until
  // the curve falls again.
  const int n_k = k_hi - k_lo + 1;
  std::vector<KMeansResult> results;
  std::vector<double> seconds(static_cast<std::size_t>(n_k), 0.0);
  auto fit = [&](int k, KMeansOptions options) {
    const auto t0 = std::chrono::steady_clock::now();
    options.assign_in_threads = assign_in_threads;
    KMeansResult r = kmeans_fit(comm, points, n_local, d, first, options, assign);
    seconds[static_cast<std::size_t>(k - k_lo)] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };
  auto from_start = [&](int k, std::vector<float> start) {
    KMeansOptions options = kmeans_options(config, k, seed);
    options.n_redo = 1;
    options.initial_centroids = std::move(start);
    return fit(k, std::move(options));
  };
  auto at = [&](int k) -> KMeansResult& { return results[static_cast<std::size_t>(k - k_lo)]; };
  for (int k = k_lo; k <= k_hi; ++k) {
    KMeansOptions options = kmeans_options(config, k, seed);
    if (!results.empty()) options.warm_start = results.back().centroids;
    results.push_back(fit(k, std::move(options)));
  }
  int lowered = 0;
  for (int k = k_hi - 1; k >= k_lo; --k) {
    KMeansResult merged = from_start(k, merge_closest_pair(at(k + 1), config.spherical));
    if (!(merged.inertia < at(k).inertia)) continue;
    at(k) = std::move(merged);
    ++lowered;
    for (int j = k + 1; j <= k_hi && !(at(j).inertia < at(j - 1).inertia); ++j) {
      KMeansResult up = from_start(j, extend_centroids(comm, sharded, at(j - 1).centroids, j - 1, seed));
      if (up.inertia < at(j).inertia) at(j) = std::move(up);
    }
  }
  if (lowered > 0) plog::debug("cluster: the merge pass lowered the inertia at {} k", lowered);

  for (int k = k_lo; k <= k_hi; ++k) {
    const KMeansResult& r = at(k);
    KCurvePoint point{k, r.inertia, 0.0, r.iterations, 0.0};
    const auto t0 = std::chrono::steady_clock::now();
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
    point.seconds = seconds[static_cast<std::size_t>(k - k_lo)] +
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    plog::info("cluster: k = {:2d}  inertia {:.6g}  silhouette {:.4f}  ({} iterations, {:.2f} s)", k, point.inertia,
               point.silhouette, point.iterations, point.seconds);
    choice.curve.push_back(point);
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
  } else if (config.select == KSelect::silhouette) {
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
