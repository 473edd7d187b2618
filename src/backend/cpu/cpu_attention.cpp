// Causal grouped-query attention on the CPU: one task per (sequence, kv head)
// so that the backward's dk/dv need no atomics. Scores are computed row by
// row with the saved log-sum-exp (flash-attention style backward).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "core/errors.h"

namespace personas {

namespace {

void check_shape(const TensorView& q, const TensorView& k, const TensorView& v, const AttentionShape& s) {
  PERSONAS_ASSERT(s.n_heads % s.n_kv_heads == 0, "attention: {} heads not a multiple of {} kv heads", s.n_heads,
                  s.n_kv_heads);
  const std::int64_t n = static_cast<std::int64_t>(s.batch) * s.seq;
  PERSONAS_ASSERT(q.rows == n && q.cols == static_cast<std::int64_t>(s.n_heads) * s.head_dim,
                  "attention: q [{},{}] for batch {} seq {} heads {} dim {}", q.rows, q.cols, s.batch, s.seq,
                  s.n_heads, s.head_dim);
  PERSONAS_ASSERT(k.rows == n && v.rows == n && k.cols == static_cast<std::int64_t>(s.n_kv_heads) * s.head_dim &&
                      v.cols == k.cols,
                  "attention: k/v [{},{}] for {} kv heads", k.rows, k.cols, s.n_kv_heads);
}

// Below this many multiply-adds a loop runs on one thread: waking the team
// costs more than it saves (and a shared machine makes that worse).
constexpr double kParallelWork = 1 << 18;

// First key visible to query i.
inline int first_key(int i, int window) { return window > 0 ? std::max(0, i - window + 1) : 0; }

}  // namespace

void CpuBackend::attention_forward(TensorView q, TensorView k, TensorView v, TensorView lengths,
                                   const AttentionShape& s, TensorView out, TensorView lse) {
  check_shape(q, k, v, s);
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const std::int64_t qc = q.cols, kc = k.cols;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int b = 0; b < s.batch; ++b)
    PERSONAS_ASSERT(lengths.i32()[b] >= 0 && lengths.i32()[b] <= s.seq, "attention: length {} of row {}",
                    lengths.i32()[b], b);
  fill_zero(out);
  fill_zero(lse);
  const double work = static_cast<double>(s.batch) * s.n_heads * s.seq * s.seq * hd;
#pragma omp parallel if (work > kParallelWork)
  {
    std::vector<float> p(static_cast<std::size_t>(s.seq));
#pragma omp for collapse(2) schedule(dynamic)
    for (int b = 0; b < s.batch; ++b) {
      for (int h = 0; h < s.n_heads; ++h) {
        const int len = lengths.i32()[b];
        const int kvh = h / group;
        const std::int64_t base = static_cast<std::int64_t>(b) * s.seq;
        for (int i = 0; i < len; ++i) {
          const float* qi = q.f32() + (base + i) * qc + static_cast<std::int64_t>(h) * hd;
          const int j0 = first_key(i, s.sliding_window);
          float mx = -INFINITY;
          for (int j = j0; j <= i; ++j) {
            const float* kj = k.f32() + (base + j) * kc + static_cast<std::int64_t>(kvh) * hd;
            const float sc = cpu::dot(qi, kj, hd) * scale;
            p[static_cast<std::size_t>(j)] = sc;
            mx = std::max(mx, sc);
          }
          float sum = 0.0f;
          for (int j = j0; j <= i; ++j) {
            const float e = std::exp(p[static_cast<std::size_t>(j)] - mx);
            p[static_cast<std::size_t>(j)] = e;
            sum += e;
          }
          float* oi = out.f32() + (base + i) * qc + static_cast<std::int64_t>(h) * hd;
          const float inv = 1.0f / sum;
          for (int j = j0; j <= i; ++j) {
            const float* vj = v.f32() + (base + j) * kc + static_cast<std::int64_t>(kvh) * hd;
            cpu::axpy(p[static_cast<std::size_t>(j)] * inv, vj, oi, hd);
          }
          lse.f32()[(base + i) * s.n_heads + h] = mx + std::log(sum);
        }
      }
    }
  }
}

void CpuBackend::attention_backward(TensorView dout, TensorView q, TensorView k, TensorView v, TensorView out,
                                    TensorView lse, TensorView lengths, const AttentionShape& s, TensorView dq,
                                    TensorView dk, TensorView dv) {
  check_shape(q, k, v, s);
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const std::int64_t qc = q.cols, kc = k.cols;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  fill_zero(dq);
  fill_zero(dk);
  fill_zero(dv);
  const double work = static_cast<double>(s.batch) * s.n_heads * s.seq * s.seq * hd;
#pragma omp parallel for collapse(2) schedule(dynamic) if (work > kParallelWork)
  for (int b = 0; b < s.batch; ++b) {
    for (int kvh = 0; kvh < s.n_kv_heads; ++kvh) {
      const int len = lengths.i32()[b];
      const std::int64_t base = static_cast<std::int64_t>(b) * s.seq;
      for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
        for (int i = 0; i < len; ++i) {
          const std::int64_t qoff = (base + i) * qc + static_cast<std::int64_t>(h) * hd;
          const float* qi = q.f32() + qoff;
          const float* doi = dout.f32() + qoff;
          const float di = cpu::dot(doi, out.f32() + qoff, hd);
          const float li = lse.f32()[(base + i) * s.n_heads + h];
          float* dqi = dq.f32() + qoff;
          for (int j = first_key(i, s.sliding_window); j <= i; ++j) {
            const std::int64_t koff = (base + j) * kc + static_cast<std::int64_t>(kvh) * hd;
            const float* kj = k.f32() + koff;
            const float* vj = v.f32() + koff;
            const float pij = std::exp(cpu::dot(qi, kj, hd) * scale - li);
            cpu::axpy(pij, doi, dv.f32() + koff, hd);
            const float ds = pij * (cpu::dot(doi, vj, hd) - di) * scale;
            cpu::axpy(ds, kj, dqi, hd);
            cpu::axpy(ds, qi, dk.f32() + koff, hd);
          }
        }
      }
    }
  }
}

void CpuBackend::attention_decode(TensorView q, TensorView k_cache, TensorView v_cache, int past,
                                  const AttentionShape& s, TensorView out) {
  PERSONAS_ASSERT(s.batch == 1 && q.rows == s.seq && past >= 0 && past + s.seq <= k_cache.rows,
                  "attention_decode: q rows {} seq {} past {} capacity {}", q.rows, s.seq, past, k_cache.rows);
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const std::int64_t qc = q.cols, kc = k_cache.cols;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  fill_zero(out);
  const double work = static_cast<double>(s.seq) * s.n_heads * (past + s.seq) * hd;
#pragma omp parallel if (work > kParallelWork)
  {
    std::vector<float> p(static_cast<std::size_t>(past + s.seq));
#pragma omp for collapse(2)
    for (int i = 0; i < s.seq; ++i) {
      for (int h = 0; h < s.n_heads; ++h) {
        const int kvh = h / group;
        const int last = past + i;
        const int j0 = first_key(last, s.sliding_window);
        const float* qi = q.f32() + static_cast<std::int64_t>(i) * qc + static_cast<std::int64_t>(h) * hd;
        float mx = -INFINITY;
        for (int j = j0; j <= last; ++j) {
          const float sc = cpu::dot(qi, k_cache.f32() + j * kc + static_cast<std::int64_t>(kvh) * hd, hd) * scale;
          p[static_cast<std::size_t>(j)] = sc;
          mx = std::max(mx, sc);
        }
        float sum = 0.0f;
        for (int j = j0; j <= last; ++j) {
          const float e = std::exp(p[static_cast<std::size_t>(j)] - mx);
          p[static_cast<std::size_t>(j)] = e;
          sum += e;
        }
        float* oi = out.f32() + static_cast<std::int64_t>(i) * qc + static_cast<std::int64_t>(h) * hd;
        for (int j = j0; j <= last; ++j)
          cpu::axpy(p[static_cast<std::size_t>(j)] / sum, v_cache.f32() + j * kc + static_cast<std::int64_t>(kvh) * hd,
                    oi, hd);
      }
    }
  }
}

}  // namespace personas
