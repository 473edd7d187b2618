#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/errors.h"
#include "eval/rng.h"

namespace personas {

namespace {

static_assert(std::is_trivially_copyable_v<UserSummary>, "UserSummary crosses ranks as bytes");

double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * double(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - double(lo);
  return sorted[lo] * (1 - frac) + sorted[hi] * frac;
}

void add_user(GroupMetrics& g, const UserSummary& u) {
  g.sums.n += u.n;
  g.sums.n_unrelated += u.n_unrelated;
  g.sums.sum_sq += u.sum_sq;
  g.sums.sum_abs += u.sum_abs;
  g.mean_truth += u.sum_truth;       // sums for now; finish() divides
  g.mean_predicted += u.sum_predicted;
  g.n_users += 1;
  for (int b = 0; b < kHistogramBins; ++b) {
    g.hist_truth[b] += u.hist_truth[b];
    g.hist_predicted[b] += u.hist_predicted[b];
  }
}

void finish(GroupMetrics& g) {
  if (g.sums.n > 0) {
    g.mean_truth /= double(g.sums.n);
    g.mean_predicted /= double(g.sums.n);
  }
  g.js_distance = jensen_shannon_distance(g.hist_truth, g.hist_predicted);
}

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

void bootstrap_intervals(std::span<const UserSummary> users, const MetricsOptions& options,
                         ConfidenceInterval& rmse_ci, ConfidenceInterval& mae_ci) {
  rmse_ci = mae_ci = {};
  if (users.empty() || options.bootstrap_samples <= 0) return;
  SplitMix64 rng(options.seed ^ 0x626f6f7473747270ULL);  // "bootstrp"
  std::vector<double> rmses, maes;
  rmses.reserve(options.bootstrap_samples);
  maes.reserve(options.bootstrap_samples);
  const auto n_users = static_cast<std::uint64_t>(users.size());
  for (int s = 0; s < options.bootstrap_samples; ++s) {
    double sq = 0, ab = 0;
    std::int64_t n = 0;
    for (std::uint64_t k = 0; k < n_users; ++k) {
      const auto& u = users[rng.below(n_users)];
      sq += u.sum_sq;
      ab += u.sum_abs;
      n += u.n;
    }
    if (n == 0) continue;  // a resample of users without any rated item
    rmses.push_back(std::sqrt(sq / double(n)));
    maes.push_back(ab / double(n));
  }
  std::sort(rmses.begin(), rmses.end());
  std::sort(maes.begin(), maes.end());
  const double alpha = 1.0 - options.confidence;
  rmse_ci = {quantile_sorted(rmses, alpha / 2), quantile_sorted(rmses, 1 - alpha / 2)};
  mae_ci = {quantile_sorted(maes, alpha / 2), quantile_sorted(maes, 1 - alpha / 2)};
}

PredictorMetrics metrics_from_users(const std::string& name, const std::string& kind,
                                    std::vector<UserSummary> users, const MetricsOptions& options) {
  PredictorMetrics m;
  m.name = name;
  m.kind = kind;
  std::sort(users.begin(), users.end(),
            [](const UserSummary& a, const UserSummary& b) { return a.user_index < b.user_index; });
  for (const auto& u : users) {
    add_user(m.overall, u);
    if (u.persona >= 0) add_user(m.per_persona[u.persona], u);
  }
  finish(m.overall);
  for (auto& [persona, g] : m.per_persona) finish(g);
  if (options.bootstrap_samples > 0 && !users.empty()) {
    bootstrap_intervals(users, options, m.overall.rmse_ci, m.overall.mae_ci);
    m.overall.has_ci = true;
  }
  m.users = std::move(users);
  return m;
}

PredictorMetrics compute_metrics(const std::string& name, const std::string& kind,
                                 std::span<const PredictionRecord> records, Comm& comm,
                                 const MetricsOptions& options) {
  auto local = summarise_users(records);
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(local.data()),
                                         local.size() * sizeof(UserSummary));
  auto gathered = comm.allgatherv(bytes);
  std::vector<UserSummary> all;
  for (const auto& part : gathered) {
    PERSONAS_ASSERT(part.size() % sizeof(UserSummary) == 0, "gathered {} bytes", part.size());
    const auto count = part.size() / sizeof(UserSummary);
    const auto offset = all.size();
    all.resize(offset + count);
    if (count > 0) std::memcpy(all.data() + offset, part.data(), part.size());
  }
  auto result = metrics_from_users(name, kind, std::move(all), options);
  for (std::size_t i = 1; i < result.users.size(); ++i)
    PERSONAS_CHECK(result.users[i].user_index != result.users[i - 1].user_index, data,
                   "predictor '{}': user {} (selection index {}) has records on two ranks", name,
                   result.users[i].user_id, result.users[i].user_index);
  return result;
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
