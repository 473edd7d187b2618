#include "eval/metrics.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/errors.h"
#include "core/hash.h"
#include "eval/exact_sums.h"
#include "eval/rng.h"

namespace personas {

double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * double(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - double(lo);
  return sorted[lo] * (1 - frac) + sorted[hi] * frac;
}

namespace {

nlohmann::json histogram_json(const RatingHistogram& h) { return nlohmann::json(std::vector<std::int64_t>(h.begin(), h.end())); }

// NaN/inf are not JSON: write null for "not defined" (e.g. RMSE of zero ratings).
nlohmann::json number_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

}  // namespace

int histogram_bin(double rating) {
  const double clamped = std::clamp(rating, 1.0, 5.0);
  return std::clamp(static_cast<int>(std::lround((clamped - 1.0) * 4.0)), 0, kHistogramBins - 1);
}

double histogram_bin_centre(int bin) { return 1.0 + 0.25 * bin; }

double jensen_shannon_distance(std::span<const std::int64_t> p, std::span<const std::int64_t> q) {
  PERSONAS_ASSERT(p.size() == q.size(), "histograms of different sizes {} and {}", p.size(), q.size());
  double np = 0, nq = 0;
  for (auto x : p) np += double(x);
  for (auto x : q) nq += double(x);
  if (np <= 0 || nq <= 0) return 0;
  double divergence = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double a = double(p[i]) / np, b = double(q[i]) / nq, m = 0.5 * (a + b);
    if (a > 0) divergence += 0.5 * a * std::log2(a / m);
    if (b > 0) divergence += 0.5 * b * std::log2(b / m);
  }
  return std::sqrt(std::max(0.0, divergence));
}

double ErrorSums::rmse() const { return n > 0 ? std::sqrt(sum_sq / double(n)) : std::nan(""); }
double ErrorSums::mae() const { return n > 0 ? sum_abs / double(n) : std::nan(""); }
double ErrorSums::urr() const {
  const auto total = n + n_unrelated;
  return total > 0 ? double(n_unrelated) / double(total) : 0.0;
}

std::vector<UserSummary> summarise_users(std::span<const PredictionRecord> records) {
  std::vector<const PredictionRecord*> order;
  order.reserve(records.size());
  for (const auto& r : records) order.push_back(&r);
  // Stable order inside a user (by item, then value) so the sums do not depend
  // on the order the predictor produced its records in.
  std::sort(order.begin(), order.end(), [](const PredictionRecord* a, const PredictionRecord* b) {
    if (a->user_index != b->user_index) return a->user_index < b->user_index;
    if (a->item_id != b->item_id) return a->item_id < b->item_id;
    if (a->unrelated != b->unrelated) return a->unrelated < b->unrelated;
    if (a->truth != b->truth) return a->truth < b->truth;
    return a->predicted < b->predicted;
  });
  std::vector<UserSummary> users;
  for (const auto* r : order) {
    if (users.empty() || users.back().user_index != r->user_index) {
      UserSummary u;
      u.user_index = r->user_index;
      u.user_id = r->user_id;
      u.persona = r->persona;
      users.push_back(u);
    }
    auto& u = users.back();
    PERSONAS_CHECK(u.persona == r->persona, data,
                   "user {} (selection index {}) has predictions under two personas, {} and {}", r->user_id,
                   r->user_index, u.persona, r->persona);
    PERSONAS_CHECK(std::isfinite(r->truth), data, "user {} item {}: true rating is not finite", r->user_id,
                   r->item_id);
    u.hist_truth[histogram_bin(r->truth)] += 1;
    if (r->unrelated || !std::isfinite(r->predicted)) {
      u.n_unrelated += 1;
      continue;
    }
    const double err = double(r->predicted) - double(r->truth);
    u.n += 1;
    u.sum_sq += err * err;
    u.sum_abs += std::abs(err);
    u.sum_truth += r->truth;
    u.sum_predicted += r->predicted;
    u.hist_predicted[histogram_bin(r->predicted)] += 1;
  }
  return users;
}

namespace {

// Per group (everything, then each persona): integer fields and exact sums.
constexpr std::size_t kIntFields = 3 + 2 * kHistogramBins;  // n_users, n, n_unrelated, two histograms
constexpr std::size_t kSumFields = 4;                       // sum_sq, sum_abs, sum_truth, sum_predicted

void add_user_to_slots(std::int64_t* ints, ExactSums& sums, std::size_t group, const UserSummary& u) {
  ints[0] += 1;
  ints[1] += u.n;
  ints[2] += u.n_unrelated;
  for (int b = 0; b < kHistogramBins; ++b) {
    ints[3 + b] += u.hist_truth[b];
    ints[3 + kHistogramBins + b] += u.hist_predicted[b];
  }
  sums.add(group * kSumFields + 0, u.sum_sq);
  sums.add(group * kSumFields + 1, u.sum_abs);
  sums.add(group * kSumFields + 2, u.sum_truth);
  sums.add(group * kSumFields + 3, u.sum_predicted);
}

GroupMetrics group_from_slots(const std::int64_t* ints, const ExactSums& sums, std::size_t group) {
  GroupMetrics g;
  g.n_users = ints[0];
  g.sums.n = ints[1];
  g.sums.n_unrelated = ints[2];
  for (int b = 0; b < kHistogramBins; ++b) {
    g.hist_truth[b] = ints[3 + b];
    g.hist_predicted[b] = ints[3 + kHistogramBins + b];
  }
  g.sums.sum_sq = sums.value(group * kSumFields + 0);
  g.sums.sum_abs = sums.value(group * kSumFields + 1);
  if (g.sums.n > 0) {
    g.mean_truth = sums.value(group * kSumFields + 2) / double(g.sums.n);
    g.mean_predicted = sums.value(group * kSumFields + 3) / double(g.sums.n);
  }
  g.js_distance = jensen_shannon_distance(g.hist_truth, g.hist_predicted);
  return g;
}

// floor(P(K <= k) * 2^64) for K ~ Poisson(1), k = 0, 1, ...; a draw is the
// number of thresholds at or below a uniform 64-bit word.
constexpr int kPoissonCap = 20;  // P(K > 20) < 1e-19: below the word's resolution
const std::array<std::uint64_t, kPoissonCap>& poisson1_thresholds() {
  static const auto table = [] {
    std::array<std::uint64_t, kPoissonCap> t{};
    long double term = std::exp(-1.0L), cdf = 0;
    for (int k = 0; k < kPoissonCap; ++k) {
      cdf += term;
      term /= (k + 1);
      const long double scaled = cdf * 18446744073709551616.0L;  // 2^64
      t[k] = scaled >= 18446744073709551615.0L ? ~std::uint64_t{0} : static_cast<std::uint64_t>(scaled);
    }
    return t;
  }();
  return table;
}

}  // namespace

int bootstrap_weight(std::uint64_t seed, int resample, std::int64_t user_index) {
  const auto& t = poisson1_thresholds();
  const std::uint64_t u =
      mix64(mix64(seed ^ 0x626f6f7473747270ULL /* "bootstrp" */ ^ mix64(std::uint64_t(user_index))) +
            kGoldenGamma * std::uint64_t(resample + 1));
  int k = 0;
  while (k < kPoissonCap && u >= t[static_cast<std::size_t>(k)]) ++k;
  return k;
}

void bootstrap_intervals(std::span<const UserSummary> users, Comm& comm, const MetricsOptions& options,
                         ConfidenceInterval& rmse_ci, ConfidenceInterval& mae_ci) {
  rmse_ci = mae_ci = {};
  const auto n_resamples = static_cast<std::size_t>(std::max(0, options.bootstrap_samples));
  if (n_resamples == 0) return;
  // Slots: squared errors of resample s at s, absolute errors at n_resamples + s.
  ExactSums sums(2 * n_resamples);
  std::vector<std::int64_t> counts(n_resamples, 0);
  for (const auto& u : users) {
    if (u.n == 0) continue;  // adds nothing to any resample
    const auto sq = ExactSums::to_fixed(u.sum_sq), ab = ExactSums::to_fixed(u.sum_abs);
    for (std::size_t s = 0; s < n_resamples; ++s) {
      const int w = bootstrap_weight(options.seed, int(s), u.user_index);
      if (w == 0) continue;
      sums.add_fixed(s, sq, w);
      sums.add_fixed(n_resamples + s, ab, w);
      counts[s] += std::int64_t(w) * u.n;
    }
  }
  sums.allreduce(comm);
  comm.allreduce(std::span<std::int64_t>(counts), ReduceOp::sum);
  std::vector<double> rmses, maes;
  for (std::size_t s = 0; s < n_resamples; ++s) {
    if (counts[s] == 0) continue;  // a resample without any rated item
    rmses.push_back(std::sqrt(sums.value(s) / double(counts[s])));
    maes.push_back(sums.value(n_resamples + s) / double(counts[s]));
  }
  if (rmses.empty()) return;
  std::sort(rmses.begin(), rmses.end());
  std::sort(maes.begin(), maes.end());
  const double alpha = 1.0 - options.confidence;
  rmse_ci = {quantile_sorted(rmses, alpha / 2), quantile_sorted(rmses, 1 - alpha / 2)};
  mae_ci = {quantile_sorted(maes, alpha / 2), quantile_sorted(maes, 1 - alpha / 2)};
}

namespace {

// The collective part of compute_metrics; `users` are this rank's, sorted by
// selection index, each once.
PredictorMetrics reduce_sorted(const std::string& name, const std::string& kind, std::vector<UserSummary> users,
                               Comm& comm, const MetricsOptions& options) {
  PredictorMetrics m;
  m.name = name;
  m.kind = kind;
  std::int64_t n_personas = 0;
  for (const auto& u : users) n_personas = std::max<std::int64_t>(n_personas, std::int64_t(u.persona) + 1);
  std::span<std::int64_t> one(&n_personas, 1);
  comm.allreduce(one, ReduceOp::max);
  const auto n_groups = 1 + static_cast<std::size_t>(n_personas);
  std::vector<std::int64_t> ints(n_groups * kIntFields, 0);
  ExactSums sums(n_groups * kSumFields);
  for (const auto& u : users) {
    add_user_to_slots(&ints[0], sums, 0, u);
    if (u.persona >= 0) {
      const auto g = 1 + static_cast<std::size_t>(u.persona);
      add_user_to_slots(&ints[g * kIntFields], sums, g, u);
    }
  }
  comm.allreduce(std::span<std::int64_t>(ints), ReduceOp::sum);
  sums.allreduce(comm);
  m.overall = group_from_slots(&ints[0], sums, 0);
  for (std::size_t g = 1; g < n_groups; ++g)
    if (ints[g * kIntFields] > 0) m.per_persona[std::int32_t(g - 1)] = group_from_slots(&ints[g * kIntFields], sums, g);
  if (options.bootstrap_samples > 0 && m.overall.n_users > 0) {
    bootstrap_intervals(users, comm, options, m.overall.rmse_ci, m.overall.mae_ci);
    m.overall.has_ci = true;
  }
  m.users = std::move(users);
  return m;
}

}  // namespace

PredictorMetrics metrics_from_users(const std::string& name, const std::string& kind,
                                    std::vector<UserSummary> users, const MetricsOptions& options) {
  auto local = make_local_comm();
  return compute_metrics(name, kind, std::move(users), *local, options);
}

PredictorMetrics compute_metrics(const std::string& name, const std::string& kind,
                                 std::span<const PredictionRecord> records, Comm& comm,
                                 const MetricsOptions& options) {
  return compute_metrics(name, kind, summarise_users(records), comm, options);
}

PredictorMetrics compute_metrics(const std::string& name, const std::string& kind, std::vector<UserSummary> local,
                                 Comm& comm, const MetricsOptions& options) {
  std::sort(local.begin(), local.end(),
            [](const UserSummary& a, const UserSummary& b) { return a.user_index < b.user_index; });
  for (std::size_t i = 1; i < local.size(); ++i)
    PERSONAS_CHECK(local[i].user_index != local[i - 1].user_index, data,
                   "predictor '{}': user {} (selection index {}) was summarised twice (its records came in two "
                   "pieces)", name, local[i].user_id, local[i].user_index);
  // Users live in contiguous blocks of the selection, one block per rank: the
  // ranks' [first, last] user ranges must not overlap (else a user would be
  // counted twice, or the predictor broke the layout).
  std::int64_t range[2] = {local.empty() ? -1 : local.front().user_index, local.empty() ? -1 : local.back().user_index};
  std::vector<std::int64_t> ranges(2 * static_cast<std::size_t>(comm.size()));
  comm.allgather(range, sizeof(range), ranges.data());
  std::vector<std::pair<std::int64_t, int>> firsts;
  for (int r = 0; r < comm.size(); ++r)
    if (ranges[2 * r] >= 0) firsts.push_back({ranges[2 * r], r});
  std::sort(firsts.begin(), firsts.end());
  for (std::size_t i = 1; i < firsts.size(); ++i) {
    const int prev = firsts[i - 1].second, cur = firsts[i].second;
    PERSONAS_CHECK(ranges[2 * prev + 1] < ranges[2 * cur], data,
                   "predictor '{}': the users of rank {} (selection indices {}..{}) and rank {} ({}..{}) overlap; "
                   "each user's records must stay on one rank, in contiguous blocks",
                   name, prev, ranges[2 * prev], ranges[2 * prev + 1], cur, ranges[2 * cur], ranges[2 * cur + 1]);
  }
  return reduce_sorted(name, kind, std::move(local), comm, options);
}

nlohmann::json group_to_json(const GroupMetrics& g) {
  nlohmann::json j;
  j["n_users"] = g.n_users;
  j["n_rated"] = g.sums.n;
  j["n_unrelated"] = g.sums.n_unrelated;
  j["rmse"] = number_or_null(g.sums.rmse());
  j["mae"] = number_or_null(g.sums.mae());
  j["urr"] = g.sums.urr();
  if (g.has_ci) {
    j["rmse_ci"] = {g.rmse_ci.low, g.rmse_ci.high};
    j["mae_ci"] = {g.mae_ci.low, g.mae_ci.high};
  }
  j["mean_truth"] = g.mean_truth;
  j["mean_predicted"] = g.mean_predicted;
  j["hist_truth"] = histogram_json(g.hist_truth);
  j["hist_predicted"] = histogram_json(g.hist_predicted);
  j["js_distance"] = g.js_distance;
  return j;
}

nlohmann::json metrics_to_json(const PredictorMetrics& m) {
  nlohmann::json j;
  j["name"] = m.name;
  j["kind"] = m.kind;
  j["overall"] = group_to_json(m.overall);
  nlohmann::json per = nlohmann::json::object();
  for (const auto& [persona, g] : m.per_persona) per[std::to_string(persona)] = group_to_json(g);
  j["per_persona"] = per;
  return j;
}

nlohmann::json user_to_json(const std::string& predictor, const UserSummary& u) {
  ErrorSums s{u.n, u.n_unrelated, u.sum_sq, u.sum_abs};
  nlohmann::json j;
  j["predictor"] = predictor;
  j["user"] = u.user_id;
  j["user_index"] = u.user_index;
  j["persona"] = u.persona;
  j["n_rated"] = u.n;
  j["n_unrelated"] = u.n_unrelated;
  j["rmse"] = number_or_null(s.rmse());
  j["mae"] = number_or_null(s.mae());
  j["urr"] = s.urr();
  return j;
}

}  // namespace personas
