#include "eval/baselines.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>

#include "core/errors.h"
#include "core/log.h"
#include "eval/rng.h"

namespace personas {

namespace {

double clamp_rating(double r) { return std::clamp(r, 1.0, 5.0); }

// ---- shared pieces -------------------------------------------------------------

// mu, per-item sums/counts over every rank's training ratings (exact).
struct TrainingTotals {
  double mu = 3.0;  // a neutral fallback when there is no training rating at all
  std::vector<double> item_sum;
  std::vector<std::int64_t> item_count;
};

TrainingTotals training_totals(const Dataset& data, Comm& comm) {
  const auto n_items = data.items.size();
  ExactSums sums(n_items + 1);  // last slot: everything
  std::vector<std::int64_t> counts(n_items + 1, 0);
  for (const auto& u : data.users)
    for (const auto& x : data.train_of(u)) {
      sums.add(static_cast<std::size_t>(x.item), x.rating);
      sums.add(n_items, x.rating);
      counts[static_cast<std::size_t>(x.item)] += 1;
      counts[n_items] += 1;
    }
  sums.allreduce(comm);
  comm.allreduce(std::span<std::int64_t>(counts), ReduceOp::sum);
  TrainingTotals t;
  if (counts[n_items] > 0) t.mu = sums.value(n_items) / double(counts[n_items]);
  t.item_sum.resize(n_items);
  for (std::size_t i = 0; i < n_items; ++i) t.item_sum[i] = sums.value(i);
  t.item_count.assign(counts.begin(), counts.end() - 1);
  return t;
}

// The training ratings of every rank, in selection order of users (then the
// user's own order), on every rank.
struct TrainRating {
  std::int64_t user;  // selection index
  std::int32_t item;  // item index
  float rating;
};
static_assert(std::is_trivially_copyable_v<TrainRating>);

std::vector<TrainRating> gather_training(const Dataset& data, Comm& comm) {
  std::vector<TrainRating> local;
  for (std::size_t k = 0; k < data.users.size(); ++k)
    for (const auto& x : data.train_of(data.users[k]))
      local.push_back({data.first_user + std::int64_t(k), x.item, x.rating});
  auto parts = comm.allgatherv(std::span<const std::byte>(reinterpret_cast<const std::byte*>(local.data()),
                                                          local.size() * sizeof(TrainRating)));
  std::vector<TrainRating> all;
  for (const auto& part : parts) {
    const auto offset = all.size();
    all.resize(offset + part.size() / sizeof(TrainRating));
    if (!part.empty()) std::memcpy(all.data() + offset, part.data(), part.size());
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const TrainRating& a, const TrainRating& b) { return a.user < b.user; });
  return all;
}

// Compressed rows: for each row r, the entries idx[start[r] .. start[r+1]).
struct Rows {
  std::vector<std::size_t> start;
  std::vector<std::size_t> idx;  // indices into the rating list
};

Rows rows_by(const std::vector<TrainRating>& ratings, std::size_t n_rows, bool by_user) {
  Rows rows;
  rows.start.assign(n_rows + 1, 0);
  for (const auto& r : ratings) rows.start[(by_user ? std::size_t(r.user) : std::size_t(r.item)) + 1] += 1;
  for (std::size_t i = 0; i < n_rows; ++i) rows.start[i + 1] += rows.start[i];
  rows.idx.resize(ratings.size());
  auto fill = rows.start;
  for (std::size_t k = 0; k < ratings.size(); ++k) {
    const auto row = by_user ? std::size_t(ratings[k].user) : std::size_t(ratings[k].item);
    rows.idx[fill[row]++] = k;
  }
  return rows;
}

// Solves A x = b for a symmetric positive definite A (d x d, row-major) in place
// by Cholesky; A and b are overwritten, b holds x.
void cholesky_solve(std::vector<double>& a, std::vector<double>& b, std::size_t d) {
  for (std::size_t j = 0; j < d; ++j) {
    double diag = a[j * d + j];
    for (std::size_t k = 0; k < j; ++k) diag -= a[j * d + k] * a[j * d + k];
    PERSONAS_ASSERT(diag > 0, "ALS normal matrix not positive definite (pivot {} = {})", j, diag);
    const double l = std::sqrt(diag);
    a[j * d + j] = l;
    for (std::size_t i = j + 1; i < d; ++i) {
      double s = a[i * d + j];
      for (std::size_t k = 0; k < j; ++k) s -= a[i * d + k] * a[j * d + k];
      a[i * d + j] = s / l;
    }
  }
  for (std::size_t i = 0; i < d; ++i) {  // L y = b
    double s = b[i];
    for (std::size_t k = 0; k < i; ++k) s -= a[i * d + k] * b[k];
    b[i] = s / a[i * d + i];
  }
  for (std::size_t i = d; i-- > 0;) {  // L^T x = y
    double s = b[i];
    for (std::size_t k = i + 1; k < d; ++k) s -= a[k * d + i] * b[k];
    b[i] = s / a[i * d + i];
  }
}

// ---- the baselines ----------------------------------------------------------------

class GlobalMean final : public Baseline {
 public:
  std::string name() const override { return "global_mean"; }
  void fit(const Dataset& data, Comm& comm) override { mu_ = training_totals(data, comm).mu; }
  double predict(std::size_t, std::int32_t) const override { return clamp_rating(mu_); }

 private:
  double mu_ = 3.0;
};

class UserMean final : public Baseline {
 public:
  std::string name() const override { return "user_mean"; }
  void fit(const Dataset& data, Comm& comm) override {
    const double mu = training_totals(data, comm).mu;
    mean_.assign(data.users.size(), mu);
    for (std::size_t k = 0; k < data.users.size(); ++k) {
      const auto train = data.train_of(data.users[k]);
      if (train.empty()) continue;
      double s = 0;
      for (const auto& x : train) s += x.rating;
      mean_[k] = s / double(train.size());
    }
  }
  double predict(std::size_t user, std::int32_t) const override { return clamp_rating(mean_.at(user)); }

 private:
  std::vector<double> mean_;
};

class ItemMean final : public Baseline {
 public:
  std::string name() const override { return "item_mean"; }
  void fit(const Dataset& data, Comm& comm) override {
    const auto t = training_totals(data, comm);
    mean_.assign(data.items.size(), t.mu);
    for (std::size_t i = 0; i < mean_.size(); ++i)
      if (t.item_count[i] > 0) mean_[i] = t.item_sum[i] / double(t.item_count[i]);
  }
  double predict(std::size_t, std::int32_t item) const override {
    return clamp_rating(mean_.at(static_cast<std::size_t>(item)));
  }

 private:
  std::vector<double> mean_;
};

// mu + b_u + b_i. Each pass: user biases from the current item biases (local:
// a user's ratings are all on its rank), then item biases from the user
// biases (exact allreduce of per-item residual sums). Same order as the
// Surprise library's BaselineOnly ALS.
class UserItemBias final : public Baseline {
 public:
  explicit UserItemBias(const EvalConfig& c) : c_(c) {}
  std::string name() const override { return "bias"; }
  void fit(const Dataset& data, Comm& comm) override {
    const auto t = training_totals(data, comm);
    mu_ = t.mu;
    bu_.assign(data.users.size(), 0.0);
    bi_.assign(data.items.size(), 0.0);
    for (int pass = 0; pass < c_.bias_iterations; ++pass) {
      for (std::size_t k = 0; k < data.users.size(); ++k) {
        double s = 0;
        const auto train = data.train_of(data.users[k]);
        for (const auto& x : train) s += x.rating - mu_ - bi_[std::size_t(x.item)];
        const double w = c_.bias_reg_user + double(train.size());
        bu_[k] = w > 0 ? s / w : 0.0;  // no rating and no regularisation: no bias
      }
      ExactSums residual(bi_.size());
      for (std::size_t k = 0; k < data.users.size(); ++k)
        for (const auto& x : data.train_of(data.users[k]))
          residual.add(std::size_t(x.item), x.rating - mu_ - bu_[k]);
      residual.allreduce(comm);
      for (std::size_t i = 0; i < bi_.size(); ++i) {
        const double w = c_.bias_reg_item + double(t.item_count[i]);
        bi_[i] = w > 0 ? residual.value(i) / w : 0.0;
      }
    }
  }
  double predict(std::size_t user, std::int32_t item) const override {
    return clamp_rating(mu_ + bu_.at(user) + bi_.at(std::size_t(item)));
  }

 private:
  EvalConfig c_;
  double mu_ = 3.0;
  std::vector<double> bu_, bi_;
};

// The state shared by the two factor models: replicated over ranks.
class BiasedFactorModel : public Baseline {
 public:
  double predict(std::size_t local_user, std::int32_t item) const override {
    const auto u = std::size_t(first_user_) + local_user;
    const auto i = std::size_t(item);
    const double* p = &p_[u * k_];
    const double* q = &q_[i * k_];
    double dot = 0;
    for (std::size_t f = 0; f < k_; ++f) dot += p[f] * q[f];
    return clamp_rating(mu_ + bu_[u] + bi_[i] + dot);
  }

 protected:
  void init(const Dataset& data, std::size_t k, double init_std, std::uint64_t seed, bool init_users) {
    k_ = k;
    first_user_ = data.first_user;
    n_users_ = std::size_t(data.n_users_total);
    n_items_ = data.items.size();
    bu_.assign(n_users_, 0.0);
    bi_.assign(n_items_, 0.0);
    p_.assign(n_users_ * k_, 0.0);
    q_.assign(n_items_ * k_, 0.0);
    SplitMix64 rng(seed);
    if (init_users)
      for (auto& x : p_) x = init_std * rng.normal();
    for (auto& x : q_) x = init_std * rng.normal();
  }
  std::size_t k_ = 0, n_users_ = 0, n_items_ = 0;
  std::int64_t first_user_ = 0;
  double mu_ = 3.0;
  std::vector<double> bu_, bi_, p_, q_;
};

class MfSgd final : public BiasedFactorModel {
 public:
  MfSgd(const EvalConfig& c, std::uint64_t seed) : c_(c), seed_(seed) {}
  std::string name() const override { return "mf_sgd"; }
  void fit(const Dataset& data, Comm& comm) override {
    mu_ = training_totals(data, comm).mu;
    const auto ratings = gather_training(data, comm);
    init(data, std::size_t(c_.mf_factors), c_.mf_init_std, seed_, true);
    std::vector<std::size_t> order(ratings.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    SplitMix64 shuffle(seed_ ^ 0x73686666ULL);
    const double lr = c_.mf_lr, reg = c_.mf_reg;
    std::vector<double> pu_old(k_);
    for (int epoch = 0; epoch < c_.mf_epochs; ++epoch) {
      for (std::size_t n = order.size(); n > 1; --n) std::swap(order[n - 1], order[shuffle.below(n)]);
      for (const auto idx : order) {
        const auto& r = ratings[idx];
        const auto u = std::size_t(r.user), i = std::size_t(r.item);
        double* p = &p_[u * k_];
        double* q = &q_[i * k_];
        double dot = 0;
        for (std::size_t f = 0; f < k_; ++f) dot += p[f] * q[f];
        const double err = r.rating - (mu_ + bu_[u] + bi_[i] + dot);
        bu_[u] += lr * (err - reg * bu_[u]);
        bi_[i] += lr * (err - reg * bi_[i]);
        for (std::size_t f = 0; f < k_; ++f) {
          const double pf = p[f], qf = q[f];
          p[f] += lr * (err * qf - reg * pf);
          q[f] += lr * (err * pf - reg * qf);
        }
      }
    }
  }

 private:
  EvalConfig c_;
  std::uint64_t seed_;
};

// x = [p_u, b_u] solved against y_i = [q_i, 1] with target r - mu - b_i, and
// symmetrically for items; ridge weight als_reg * (ratings in the row).
class MfAls final : public BiasedFactorModel {
 public:
  MfAls(const EvalConfig& c, std::uint64_t seed) : c_(c), seed_(seed) {}
  std::string name() const override { return "mf_als"; }
  void fit(const Dataset& data, Comm& comm) override {
    mu_ = training_totals(data, comm).mu;
    const auto ratings = gather_training(data, comm);
    init(data, std::size_t(c_.als_factors), c_.als_init_std, seed_, false);
    const auto by_user = rows_by(ratings, n_users_, true);
    const auto by_item = rows_by(ratings, n_items_, false);
    for (int it = 0; it < c_.als_iterations; ++it) {
      solve_side(ratings, by_user, /*users=*/true);
      solve_side(ratings, by_item, /*users=*/false);
    }
  }

 private:
  void solve_side(const std::vector<TrainRating>& ratings, const Rows& rows, bool users) {
    const std::size_t d = k_ + 1;
    std::vector<double> a(d * d), b(d), y(d);
    const std::size_t n_rows = rows.start.size() - 1;
    for (std::size_t row = 0; row < n_rows; ++row) {
      const auto begin = rows.start[row], end = rows.start[row + 1];
      if (begin == end) continue;  // no training rating: keep the initial value
      std::fill(a.begin(), a.end(), 0.0);
      std::fill(b.begin(), b.end(), 0.0);
      for (auto e = begin; e < end; ++e) {
        const auto& r = ratings[rows.idx[e]];
        const auto u = std::size_t(r.user), i = std::size_t(r.item);
        const double* other = users ? &q_[i * k_] : &p_[u * k_];
        for (std::size_t f = 0; f < k_; ++f) y[f] = other[f];
        y[k_] = 1.0;
        const double target = r.rating - mu_ - (users ? bi_[i] : bu_[u]);
        for (std::size_t s = 0; s < d; ++s) {
          b[s] += target * y[s];
          for (std::size_t t = 0; t <= s; ++t) a[s * d + t] += y[s] * y[t];
        }
      }
      const double lambda = c_.als_reg * double(end - begin);
      for (std::size_t s = 0; s < d; ++s) {
        a[s * d + s] += lambda;
        for (std::size_t t = 0; t < s; ++t) a[t * d + s] = a[s * d + t];
      }
      cholesky_solve(a, b, d);
      double* x = users ? &p_[row * k_] : &q_[row * k_];
      for (std::size_t f = 0; f < k_; ++f) x[f] = b[f];
      (users ? bu_[row] : bi_[row]) = b[k_];
    }
  }

  EvalConfig c_;
  std::uint64_t seed_;
};

}  // namespace

std::vector<std::string> known_baselines() {
  return {"global_mean", "user_mean", "item_mean", "bias", "mf_sgd", "mf_als"};
}

bool is_known_baseline(const std::string& name) {
  const auto known = known_baselines();
  return std::find(known.begin(), known.end(), name) != known.end();
}

std::unique_ptr<Baseline> make_baseline(const std::string& name, const EvalConfig& config, std::uint64_t seed) {
  if (name == "global_mean") return std::make_unique<GlobalMean>();
  if (name == "user_mean") return std::make_unique<UserMean>();
  if (name == "item_mean") return std::make_unique<ItemMean>();
  if (name == "bias") return std::make_unique<UserItemBias>(config);
  if (name == "mf_sgd") return std::make_unique<MfSgd>(config, seed);
  if (name == "mf_als") return std::make_unique<MfAls>(config, seed);
  PERSONAS_FAIL(config, "eval.baselines: unknown baseline '{}'", name);
}

std::vector<PredictionRecord> predict_test_period(const Baseline& baseline, const Dataset& data,
                                                  std::span<const std::int32_t> persona_of_user, std::size_t begin,
                                                  std::size_t end) {
  PERSONAS_ASSERT(persona_of_user.empty() || persona_of_user.size() == data.users.size(),
                  "{} personas for {} users", persona_of_user.size(), data.users.size());
  end = std::min(end, data.users.size());
  std::vector<PredictionRecord> out;
  for (std::size_t k = begin; k < end; ++k) {
    const auto& u = data.users[k];
    for (const auto& x : data.test_of(u)) {
      PredictionRecord r;
      r.user_index = data.first_user + std::int64_t(k);
      r.user_id = u.id;
      r.item_id = data.items.at(std::size_t(x.item)).id;
      r.truth = x.rating;
      r.predicted = static_cast<float>(baseline.predict(k, x.item));
      r.persona = persona_of_user.empty() ? -1 : persona_of_user[k];
      out.push_back(r);
    }
  }
  return out;
}

double training_rmse(const Baseline& baseline, const Dataset& data, Comm& comm) {
  ExactSums sq(1);
  std::int64_t n = 0;
  for (std::size_t k = 0; k < data.users.size(); ++k)
    for (const auto& x : data.train_of(data.users[k])) {
      const double e = baseline.predict(k, x.item) - x.rating;
      sq.add(0, e * e);
      ++n;
    }
  sq.allreduce(comm);
  n = comm.allreduce_sum(n);
  return n > 0 ? std::sqrt(sq.value(0) / double(n)) : std::nan("");
}

}  // namespace personas
