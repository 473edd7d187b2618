#include "eval/paired_difference.h"

#include <algorithm>
#include <cmath>

#include "eval/exact_sums.h"

namespace personas {

std::vector<PairedUser> paired_users(std::span<const UserSummary> users) {
  std::vector<PairedUser> out;
  out.reserve(users.size());
  for (const auto& u : users) out.push_back({u.user_index, u.n + u.n_unrelated, u.sum_sq, u.sum_abs, u.n});
  return out;
}

namespace {

bool same_ratings(std::span<const PairedUser> a, std::span<const PairedUser> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].user_index != b[i].user_index || a[i].n_records != b[i].n_records) return false;
  return true;
}

// Slots of the ExactSums per resample (and one more group for the full data).
enum Slot : std::size_t { kSqA, kSqB, kAbsA, kAbsB, kSlots };
enum Count : std::size_t { kNA, kNB, kCounts };

struct Errors {
  double rmse_a = 0, rmse_b = 0, mae_a = 0, mae_b = 0;
  bool valid = false;
};

Errors errors_of(const ExactSums& sums, const std::vector<std::int64_t>& counts, std::size_t group) {
  Errors e;
  const auto na = counts[group * kCounts + kNA], nb = counts[group * kCounts + kNB];
  if (na == 0 || nb == 0) return e;
  e.rmse_a = std::sqrt(sums.value(group * kSlots + kSqA) / double(na));
  e.rmse_b = std::sqrt(sums.value(group * kSlots + kSqB) / double(nb));
  e.mae_a = sums.value(group * kSlots + kAbsA) / double(na);
  e.mae_b = sums.value(group * kSlots + kAbsB) / double(nb);
  e.valid = true;
  return e;
}

}  // namespace

std::optional<PairedDifference> paired_difference(std::span<const PairedUser> users,
                                                  std::span<const PairedUser> reference,
                                                  const std::string& reference_name, Comm& comm,
                                                  const MetricsOptions& options) {
  std::int64_t mismatch = same_ratings(users, reference) ? 0 : 1;
  if (comm.allreduce_sum(mismatch) > 0) return std::nullopt;
  // Group 0: every user once (the point estimate); group 1 + s: resample s.
  const auto n_resamples = static_cast<std::size_t>(std::max(0, options.bootstrap_samples));
  const std::size_t groups = 1 + n_resamples;
  ExactSums sums(groups * kSlots);
  std::vector<std::int64_t> counts(groups * kCounts, 0);
  for (std::size_t i = 0; i < users.size(); ++i) {
    const PairedUser& a = users[i];
    const PairedUser& b = reference[i];
    const std::int64_t fixed[kSlots] = {ExactSums::to_fixed(a.sum_sq), ExactSums::to_fixed(b.sum_sq),
                                        ExactSums::to_fixed(a.sum_abs), ExactSums::to_fixed(b.sum_abs)};
    for (std::size_t g = 0; g < groups; ++g) {
      const int w = g == 0 ? 1 : bootstrap_weight(options.seed, int(g - 1), a.user_index);
      if (w == 0) continue;
      for (std::size_t k = 0; k < kSlots; ++k) sums.add_fixed(g * kSlots + k, fixed[k], w);
      counts[g * kCounts + kNA] += std::int64_t(w) * a.n;
      counts[g * kCounts + kNB] += std::int64_t(w) * b.n;
    }
  }
  sums.allreduce(comm);
  comm.allreduce(std::span<std::int64_t>(counts), ReduceOp::sum);
  const Errors all = errors_of(sums, counts, 0);
  if (!all.valid) return std::nullopt;
  PairedDifference d;
  d.reference = reference_name;
  d.rmse_diff = all.rmse_a - all.rmse_b;
  d.mae_diff = all.mae_a - all.mae_b;
  std::vector<double> rmse_diffs, mae_diffs;
  for (std::size_t g = 1; g < groups; ++g) {
    const Errors e = errors_of(sums, counts, g);
    if (!e.valid) continue;  // a resample without rated items for one of them
    rmse_diffs.push_back(e.rmse_a - e.rmse_b);
    mae_diffs.push_back(e.mae_a - e.mae_b);
  }
  if (!rmse_diffs.empty()) {
    std::sort(rmse_diffs.begin(), rmse_diffs.end());
    std::sort(mae_diffs.begin(), mae_diffs.end());
    const double alpha = 1.0 - options.confidence;
    d.rmse_diff_ci = {quantile_sorted(rmse_diffs, alpha / 2), quantile_sorted(rmse_diffs, 1 - alpha / 2)};
    d.mae_diff_ci = {quantile_sorted(mae_diffs, alpha / 2), quantile_sorted(mae_diffs, 1 - alpha / 2)};
    d.has_ci = true;
  }
  return d;
}

nlohmann::json paired_difference_to_json(const PairedDifference& d) {
  nlohmann::json j = {{"reference", d.reference},
                      {"rmse_diff", d.rmse_diff},
                      {"mae_diff", d.mae_diff},
                      {"ratings", d.on_subset ? "the predictor's subset" : "all"}};
  if (d.has_ci) {
    j["rmse_diff_ci"] = {d.rmse_diff_ci.low, d.rmse_diff_ci.high};
    j["mae_diff_ci"] = {d.mae_diff_ci.low, d.mae_diff_ci.high};
  }
  return j;
}

}  // namespace personas
