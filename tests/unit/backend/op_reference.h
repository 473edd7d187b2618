// Double-precision reference forwards of the backend ops and a central
// finite-difference gradient, for checking the CPU backend's float backwards.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "backend/backend.h"

namespace personas::testing {

using Vec = std::vector<double>;

inline std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}
inline Vec to_double(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }
inline std::vector<float> to_float(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }
inline TensorView view(std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  return TensorView{v.data(), DType::f32, rows, cols};
}
inline TensorView view(std::vector<std::int32_t>& v, std::int64_t rows, std::int64_t cols) {
  return TensorView{v.data(), DType::i32, rows, cols};
}

// d/dx of sum_i w_i f(x)_i by central differences in double.
inline Vec numeric_gradient(const std::function<Vec(const Vec&)>& f, Vec x, const Vec& w, double h = 1e-6) {
  Vec g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const Vec up = f(x);
    x[i] = saved - h;
    const Vec down = f(x);
    x[i] = saved;
    double d = 0.0;
    for (std::size_t j = 0; j < w.size(); ++j) d += w[j] * (up[j] - down[j]);
    g[i] = d / (2.0 * h);
  }
  return g;
}

// max |a - b| / (max |b| + floor): a relative error against the tensor's scale.
inline double relative_error(const std::vector<float>& a, const Vec& b, double floor = 1e-6) {
  double diff = 0.0, scale = floor;
  for (std::size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return diff / scale;
}

// ---- references ---------------------------------------------------------------------
inline Vec rmsnorm_ref(const Vec& x, const Vec& w, std::int64_t rows, std::int64_t d, double eps) {
  Vec y(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    double ms = 0.0;
    for (std::int64_t j = 0; j < d; ++j) ms += x[r * d + j] * x[r * d + j];
    const double s = 1.0 / std::sqrt(ms / d + eps);
    for (std::int64_t j = 0; j < d; ++j) y[r * d + j] = x[r * d + j] * s * w[j];
  }
  return y;
}

inline Vec rope_ref(const Vec& x, const std::vector<std::int32_t>& pos, int heads, int hd, int rot, double theta,
                    bool inverse) {
  Vec y = x;
  const int half = rot / 2;
  const std::int64_t width = static_cast<std::int64_t>(heads) * hd;
  for (std::size_t r = 0; r < pos.size(); ++r)
    for (int h = 0; h < heads; ++h)
      for (int j = 0; j < half; ++j) {
        const double a = pos[r] * std::pow(theta, -2.0 * j / rot) * (inverse ? -1.0 : 1.0);
        const std::int64_t i1 = static_cast<std::int64_t>(r) * width + h * hd + j, i2 = i1 + half;
        y[i1] = x[i1] * std::cos(a) - x[i2] * std::sin(a);
        y[i2] = x[i2] * std::cos(a) + x[i1] * std::sin(a);
      }
  return y;
}

inline Vec attention_ref(const Vec& q, const Vec& k, const Vec& v, const std::vector<std::int32_t>& lengths,
                         const AttentionShape& s) {
  const int group = s.n_heads / s.n_kv_heads, hd = s.head_dim;
  const std::int64_t qc = static_cast<std::int64_t>(s.n_heads) * hd, kc = static_cast<std::int64_t>(s.n_kv_heads) * hd;
  Vec out(q.size(), 0.0);
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.n_heads; ++h)
      for (int i = 0; i < lengths[static_cast<std::size_t>(b)]; ++i) {
        const std::int64_t qi = (static_cast<std::int64_t>(b) * s.seq + i) * qc + h * hd;
        std::vector<double> p;
        std::vector<std::int64_t> kj;
        double mx = -1e300;
        for (int j = 0; j <= i; ++j) {
          if (s.sliding_window > 0 && i - j >= s.sliding_window) continue;
          const std::int64_t ko = (static_cast<std::int64_t>(b) * s.seq + j) * kc + (h / group) * hd;
          double sc = 0.0;
          for (int d = 0; d < hd; ++d) sc += q[qi + d] * k[ko + d];
          sc /= std::sqrt(static_cast<double>(hd));
          p.push_back(sc);
          kj.push_back(ko);
          mx = std::max(mx, sc);
        }
        double sum = 0.0;
        for (auto& e : p) sum += (e = std::exp(e - mx));
        for (std::size_t t = 0; t < p.size(); ++t)
          for (int d = 0; d < hd; ++d) out[qi + d] += p[t] / sum * v[kj[t] + d];
      }
  return out;
}

}  // namespace personas::testing
