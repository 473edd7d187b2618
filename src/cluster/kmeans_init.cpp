#include "cluster/kmeans_init.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "backend/cpu/kmeans_assign.h"
#include "cluster/exact_sum.h"
#include "cluster/serial_when_small.h"
#include "core/choice_names.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/log.h"

namespace personas {
namespace {

// Purposes keep the hash streams of different draws apart.
enum Purpose : std::uint64_t { kFirst = 1, kRandom = 2, kPlusPlus = 100, kParallel = 10000, kLocal = 20000, kExtend = 30000 };

struct KeyIndex {
  double key;
  std::int64_t index;
};
bool key_less(const KeyIndex& a, const KeyIndex& b) { return a.key < b.key || (a.key == b.key && a.index < b.index); }

// D2[i] = min(D2[i], |x_i - c|^2)
void update_min_distance(const ShardedPoints& p, const float* centre, std::vector<double>& d2) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < p.n_local; ++i) {
    const double e = exact_squared_distance(p.row(i), centre, p.d);
    if (e < d2[static_cast<std::size_t>(i)]) d2[static_cast<std::size_t>(i)] = e;
  }
}

double max_abs(Comm& comm, const ShardedPoints& p) {
  double m = 0.0;
  for (std::int64_t i = 0; i < p.n_local * p.d; ++i) m = std::max(m, std::fabs(static_cast<double>(p.data[i])));
  return comm.allreduce_max(m);
}

// Candidates tried per greedy k-means++ step: 2 + floor(ln k), as scikit-learn
// (Arthur & Vassilvitskii's suggestion). Plain k-means++ (one draw per step)
// lands in a split-one-group, merge-two-groups optimum far more often.
int local_trials(int k) { return 2 + static_cast<int>(std::log(static_cast<double>(std::max(k, 1)))); }

// D2[i] = min(D2[i], min over the batch of |x_i - c|^2), the same values as
// update_min_distance per centre: the assignment kernel finds the nearest
// centre of the batch by the exact distance (cpu_kmeans_assign), and only that
// one's exact distance is computed. One pass instead of one per centre.
void update_min_distance_batch(const ShardedPoints& p, const float* centres, std::int64_t count, std::vector<double>& d2) {
  constexpr std::int64_t kMaxBatch = 4096;  // cpu_kmeans_assign's limit on centroids
  std::vector<std::int32_t> labels(static_cast<std::size_t>(p.n_local));
  std::vector<float> dist(static_cast<std::size_t>(p.n_local));
  for (std::int64_t c0 = 0; c0 < count; c0 += kMaxBatch) {
    const std::int64_t m = std::min(kMaxBatch, count - c0);
    const float* batch = centres + c0 * p.d;
    cpu_kmeans_assign(p.data, p.n_local, batch, m, p.d, labels.data(), dist.data());
    for (std::int64_t i = 0; i < p.n_local; ++i) {
      const double e = exact_squared_distance(p.row(i), batch + static_cast<std::int64_t>(labels[static_cast<std::size_t>(i)]) * p.d, p.d);
      if (e < d2[static_cast<std::size_t>(i)]) d2[static_cast<std::size_t>(i)] = e;
    }
  }
}

// Independent weighted draws by exponential keys (Efraimidis & Spirakis): draw
// j is the row minimising -log(U(step, j, g)) / w, which has probability
// w / sum w; rows with w = 0 never win ({inf, -1} when every weight is 0).
std::vector<KeyIndex> weighted_draws(Comm& comm, const ShardedPoints& p, const std::vector<double>& w,
                                     std::uint64_t step, int draws) {
  std::vector<KeyIndex> local(static_cast<std::size_t>(draws), KeyIndex{std::numeric_limits<double>::infinity(), -1});
  for (std::int64_t i = 0; i < p.n_local; ++i) {
    const double wi = w[static_cast<std::size_t>(i)];
    if (!(wi > 0.0)) continue;
    const std::int64_t g = p.first + i;
    for (int j = 0; j < draws; ++j) {
      const KeyIndex c{-std::log(hash_uniform(step, static_cast<std::uint64_t>(j), static_cast<std::uint64_t>(g))) / wi, g};
      auto& best = local[static_cast<std::size_t>(j)];
      if (best.index < 0 || key_less(c, best)) best = c;
    }
  }
  std::vector<KeyIndex> all(local.size() * static_cast<std::size_t>(comm.size()));
  comm.allgather(local.data(), local.size() * sizeof(KeyIndex), all.data());
  std::vector<KeyIndex> out = local;
  for (int j = 0; j < draws; ++j) {
    KeyIndex best{std::numeric_limits<double>::infinity(), -1};
    for (int r = 0; r < comm.size(); ++r) {
      const KeyIndex& c = all[static_cast<std::size_t>(r) * local.size() + static_cast<std::size_t>(j)];
      if (c.index >= 0 && (best.index < 0 || key_less(c, best))) best = c;
    }
    out[static_cast<std::size_t>(j)] = best;
  }
  return out;
}

// One greedy k-means++ step over the sharded rows (collective): `trials` rows
// drawn with probability D^2 / phi, and the one that lowers the potential
// sum min(D^2, |x - c|^2) most is kept (lowest trial on ties; the potentials are
// exact fixed-point sums, so every rank layout picks the same). Updates d2 and
// returns the row's global index, or -1 when every D^2 is 0.
std::int64_t greedy_step(Comm& comm, const ShardedPoints& p, std::vector<double>& d2, std::uint64_t step, int trials,
                         const FixedPoint& fp, std::vector<float>& centroids) {
  std::vector<std::int64_t> picks;
  for (const auto& draw : weighted_draws(comm, p, d2, step, trials))
    if (draw.index >= 0) picks.push_back(draw.index);
  if (picks.empty()) return -1;
  const int d = p.d;
  const std::vector<float> rows = fetch_rows(comm, p, picks);
  std::size_t best = 0;
  if (picks.size() > 1) {
    const auto t_count = static_cast<int>(picks.size());
    std::vector<std::int64_t> potential(picks.size(), 0);
    std::int64_t* pot = potential.data();
#pragma omp parallel for schedule(static) reduction(+ : pot[:t_count])
    for (std::int64_t i = 0; i < p.n_local; ++i)
      for (int j = 0; j < t_count; ++j)
        pot[j] += fp.to_fixed(std::min(d2[static_cast<std::size_t>(i)],
                                       exact_squared_distance(p.row(i), rows.data() + static_cast<std::size_t>(j) * d, d)));
    comm.allreduce(std::span<std::int64_t>(potential), ReduceOp::sum);
    for (std::size_t j = 1; j < potential.size(); ++j)
      if (potential[j] < potential[best]) best = j;
  }
  const float* chosen = rows.data() + best * static_cast<std::size_t>(d);
  centroids.insert(centroids.end(), chosen, chosen + d);
  update_min_distance(p, chosen, d2);
  return picks[best];
}

// Fixed point for sums of squared distances between rows (|x_t - y_t| <= 2 max|x|).
FixedPoint distance_fixed_point(Comm& comm, const ShardedPoints& p) {
  return FixedPoint(std::max(4.0 * p.d * std::pow(max_abs(comm, p), 2), 1e-300), std::max<std::int64_t>(p.n_global, 1));
}

std::vector<float> init_plus_plus(Comm& comm, const ShardedPoints& p, int k, std::uint64_t seed) {
  std::vector<std::int64_t> chosen = sample_rows(comm, p, 1, seed, kFirst);
  std::vector<float> centroids = fetch_rows(comm, p, chosen);
  std::vector<double> d2(static_cast<std::size_t>(p.n_local), std::numeric_limits<double>::infinity());
  update_min_distance(p, centroids.data(), d2);
  const FixedPoint fp = distance_fixed_point(comm, p);
  for (int c = 1; c < k; ++c) {
    const std::uint64_t step = hash_chain(seed, kPlusPlus, static_cast<std::uint64_t>(c));
    std::int64_t pick = greedy_step(comm, p, d2, step, local_trials(k), fp, centroids);
    if (pick < 0) {
      // Every row sits on a chosen centre (fewer distinct rows than k): take a
      // not yet chosen row uniformly; it duplicates a centre and may stay empty.
      std::vector<std::int64_t> sorted = chosen;
      std::sort(sorted.begin(), sorted.end());
      pick = sample_rows(comm, p, 1, seed, kPlusPlus + static_cast<std::uint64_t>(c), sorted).at(0);
      const std::vector<float> row = fetch_rows(comm, p, {pick});
      centroids.insert(centroids.end(), row.begin(), row.end());
    }
    chosen.push_back(pick);
  }
  return centroids;
}

// ---- the k-means|| reduction: weighted k-means on the replicated candidates ----
// Everything below runs on the same candidates, weights and seed on every rank,
// in the same order, so every rank computes the same bits without talking.

double squared_distance(const std::vector<float>& a, std::int64_t i, const std::vector<float>& b, std::int64_t j, int d) {
  return exact_squared_distance(a.data() + i * d, b.data() + j * d, d);
}

// Greedy weighted k-means++ on the candidates: first centre drawn by weight,
// then each step draws `trials` candidates with probability w D^2 and keeps the
// one that lowers sum w min(D^2, |x - c|^2) most.
std::vector<float> weighted_greedy_plus_plus(const std::vector<float>& cand, const std::vector<double>& weight, int k,
                                             int d, std::uint64_t seed) {
  const auto m = static_cast<std::int64_t>(weight.size());
  const int trials = local_trials(k);
  auto draw = [&](const std::vector<double>& w, std::uint64_t purpose) {
    double best = std::numeric_limits<double>::infinity();
    std::int64_t pick = -1;
    for (std::int64_t i = 0; i < m; ++i) {
      const double wi = w[static_cast<std::size_t>(i)];
      if (!(wi > 0)) continue;
      const double key = -std::log(hash_uniform(seed, purpose, static_cast<std::uint64_t>(i))) / wi;
      if (key < best) best = key, pick = i;
    }
    return pick;
  };
  std::int64_t first = draw(weight, 0);
  if (first < 0) first = 0;
  std::vector<float> centroids(cand.begin() + first * d, cand.begin() + (first + 1) * d);
  std::vector<double> d2(static_cast<std::size_t>(m)), wd2(static_cast<std::size_t>(m)), trial_d2(static_cast<std::size_t>(m));
  for (std::int64_t i = 0; i < m; ++i) d2[static_cast<std::size_t>(i)] = squared_distance(cand, i, centroids, 0, d);
  for (int c = 1; c < k; ++c) {
    for (std::int64_t i = 0; i < m; ++i) wd2[static_cast<std::size_t>(i)] = weight[static_cast<std::size_t>(i)] * d2[static_cast<std::size_t>(i)];
    double best_potential = std::numeric_limits<double>::infinity();
    std::int64_t best = -1;
    for (int j = 0; j < trials; ++j) {
      const std::int64_t pick = draw(wd2, (static_cast<std::uint64_t>(c) << 8) + 1 + static_cast<std::uint64_t>(j));
      if (pick < 0) break;  // every candidate sits on a centre (duplicates)
      double potential = 0.0;
      for (std::int64_t i = 0; i < m; ++i)
        potential += weight[static_cast<std::size_t>(i)] * std::min(d2[static_cast<std::size_t>(i)], squared_distance(cand, i, cand, pick, d));
      if (potential < best_potential) best_potential = potential, best = pick;
    }
    if (best < 0) best = c % m;
    centroids.insert(centroids.end(), cand.begin() + best * d, cand.begin() + (best + 1) * d);
    for (std::int64_t i = 0; i < m; ++i)
      d2[static_cast<std::size_t>(i)] = std::min(d2[static_cast<std::size_t>(i)], squared_distance(cand, i, cand, best, d));
  }
  return centroids;
}

// Weighted Lloyd on the candidates until the labels stop changing (at most
// max_iter updates); returns the weighted objective of the final centroids.
double weighted_lloyd(const std::vector<float>& cand, const std::vector<double>& weight, std::vector<float>& centroids,
                      int k, int d, int max_iter) {
  const auto m = static_cast<std::int64_t>(weight.size());
  std::vector<std::int32_t> labels(static_cast<std::size_t>(m), -1), next(static_cast<std::size_t>(m));
  std::vector<float> dist(static_cast<std::size_t>(m));
  double objective = 0.0;
  for (int it = 0;; ++it) {
    // The assignment kernel (exact nearest centroid, lowest index on ties).
    cpu_kmeans_assign(cand.data(), m, centroids.data(), k, d, next.data(), dist.data());
    objective = 0.0;
    for (std::int64_t i = 0; i < m; ++i) objective += weight[static_cast<std::size_t>(i)] * dist[static_cast<std::size_t>(i)];
    const bool changed = next != labels;
    labels.swap(next);
    if (!changed || it == max_iter) break;
    std::vector<double> sums(static_cast<std::size_t>(k) * d, 0.0), wsum(static_cast<std::size_t>(k), 0.0);
    for (std::int64_t i = 0; i < m; ++i) {
      const auto l = static_cast<std::size_t>(labels[static_cast<std::size_t>(i)]);
      const double w = weight[static_cast<std::size_t>(i)];
      wsum[l] += w;
      for (int t = 0; t < d; ++t) sums[l * d + static_cast<std::size_t>(t)] += w * cand[static_cast<std::size_t>(i * d + t)];
    }
    for (int c = 0; c < k; ++c)
      if (wsum[static_cast<std::size_t>(c)] > 0)
        for (int t = 0; t < d; ++t)
          centroids[static_cast<std::size_t>(c) * d + static_cast<std::size_t>(t)] =
              static_cast<float>(sums[static_cast<std::size_t>(c) * d + static_cast<std::size_t>(t)] / wsum[static_cast<std::size_t>(c)]);
  }
  return objective;
}

// The reduction: kReductions greedy weighted k-means++ seedings, each refined by
// weighted Lloyd on the candidates; the lowest weighted objective wins. The
// candidates are a few times k rows, so this costs next to nothing against one
// pass over the data, and it is what makes a single k-means|| start land near
// the optimum (one seeding with plain k-means++ did in 14 of 30 seeds; issue 18).
constexpr int kReductions = 10;
constexpr int kReductionLloyd = 100;

std::vector<float> reduce_candidates(const std::vector<float>& cand, const std::vector<double>& weight, int k, int d,
                                     std::uint64_t seed) {
  const SerialWhenSmall serial(static_cast<double>(weight.size()) * k * d);  // a few hundred rows: one thread
  std::vector<float> best;
  double best_objective = std::numeric_limits<double>::infinity();
  for (int run = 0; run < kReductions; ++run) {
    std::vector<float> centroids =
        weighted_greedy_plus_plus(cand, weight, k, d, hash_chain(seed, kLocal, static_cast<std::uint64_t>(run)));
    const double objective = weighted_lloyd(cand, weight, centroids, k, d, kReductionLloyd);
    if (objective < best_objective) best_objective = objective, best = std::move(centroids);
  }
  return best;
}

std::vector<float> init_parallel(Comm& comm, const ShardedPoints& p, int k, std::uint64_t seed, int rounds,
                                 double oversampling) {
  const int d = p.d;
  std::vector<std::int64_t> cand_index = sample_rows(comm, p, 1, seed, kFirst);
  std::vector<float> cand = fetch_rows(comm, p, cand_index);
  std::vector<double> d2(static_cast<std::size_t>(p.n_local), std::numeric_limits<double>::infinity());
  update_min_distance(p, cand.data(), d2);
  const FixedPoint fp = distance_fixed_point(comm, p);
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
    if (cand_index.size() > before)
      update_min_distance_batch(p, cand.data() + before * d, static_cast<std::int64_t>(cand_index.size() - before), d2);
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


double hash_uniform(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index) {
  return (static_cast<double>(hash_chain(seed, purpose, index) >> 11) + 0.5) * 0x1.0p-53;
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
    local.push_back({static_cast<double>(hash_chain(seed, purpose, static_cast<std::uint64_t>(g))), g});
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

std::vector<float> extend_centroids(Comm& comm, const ShardedPoints& p, const std::vector<float>& centroids, int k,
                                    std::uint64_t seed) {
  const int d = p.d;
  PERSONAS_CHECK(k >= 1 && centroids.size() == static_cast<std::size_t>(k) * d, internal,
                 "extend_centroids: {} values for k = {}, d = {}", centroids.size(), k, d);
  std::vector<double> d2(static_cast<std::size_t>(p.n_local), std::numeric_limits<double>::infinity());
  update_min_distance_batch(p, centroids.data(), k, d2);
  std::vector<float> out = centroids;
  const std::uint64_t step = hash_chain(seed, kExtend, static_cast<std::uint64_t>(k));
  if (greedy_step(comm, p, d2, step, local_trials(k + 1), distance_fixed_point(comm, p), out) < 0) {
    // Every row sits on a centroid: a duplicate of the first row (it stays empty).
    const std::vector<float> row = fetch_rows(comm, p, {0});
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

const std::vector<std::pair<std::string, KMeansInit>>& kmeans_init_names() {
  static const std::vector<std::pair<std::string, KMeansInit>> names = {
      {"kmeans||", KMeansInit::parallel}, {"kmeans++", KMeansInit::plus_plus}, {"random", KMeansInit::random}};
  return names;
}

std::string to_string(KMeansInit init) { return choice_word(kmeans_init_names(), init); }

std::vector<float> init_centroids(Comm& comm, const ShardedPoints& points, int k, KMeansInit init,
                                  std::uint64_t seed, int rounds, double oversampling) {
  switch (init) {
    case KMeansInit::random: return fetch_rows(comm, points, sample_rows(comm, points, k, seed, kRandom));
    case KMeansInit::plus_plus: return init_plus_plus(comm, points, k, seed);
    case KMeansInit::parallel: return init_parallel(comm, points, k, seed, rounds, oversampling);
  }
  PERSONAS_FAIL(internal, "init_centroids: KMeansInit {}", static_cast<int>(init));
}

}  // namespace personas
