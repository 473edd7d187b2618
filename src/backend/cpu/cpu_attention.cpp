// Causal grouped-query attention on the CPU: one task per (sequence, kv head)
// so that the backward's dk/dv need no atomics. Scores are computed row by
// row with the saved log-sum-exp (flash-attention style backward).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_attention_row.h"
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

using cpu::kParallelWork;
using cpu::first_key;

}  // namespace

// Forward and backward work per (sequence, head) on [len, len] score blocks
// with sgemm (strided views into q/k/v rows), so the L^2 * head_dim work runs
// at BLAS speed; the softmax and masks are plain loops over the block.
namespace {

void sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
           float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
}

}  // namespace

void CpuBackend::attention_forward(TensorView q, TensorView k, TensorView v, TensorView lengths,
                                   const AttentionShape& s, TensorView out, TensorView lse) {
  check_shape(q, k, v, s);
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const int qc = static_cast<int>(q.cols), kc = static_cast<int>(k.cols);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int b = 0; b < s.batch; ++b)
    PERSONAS_ASSERT(lengths.i32()[b] >= 0 && lengths.i32()[b] <= s.seq, "attention: length {} of row {}",
                    lengths.i32()[b], b);
  fill_zero(out);
  fill_zero(lse);
  std::vector<float> scores(static_cast<std::size_t>(s.seq) * static_cast<std::size_t>(s.seq));
  for (int b = 0; b < s.batch; ++b) {
    const int len = lengths.i32()[b];
    if (len == 0) continue;
    const std::int64_t base = static_cast<std::int64_t>(b) * s.seq;
    for (int h = 0; h < s.n_heads; ++h) {
      const int kvh = h / group;
      const float* qb = q.f32() + base * qc + static_cast<std::int64_t>(h) * hd;
      const float* kb = k.f32() + base * kc + static_cast<std::int64_t>(kvh) * hd;
      const float* vb = v.f32() + base * kc + static_cast<std::int64_t>(kvh) * hd;
      float* ob = out.f32() + base * qc + static_cast<std::int64_t>(h) * hd;
      float* p = scores.data();
      sgemm(false, true, len, len, hd, scale, qb, qc, kb, kc, 0.0f, p, len);  // S = Q K^T / sqrt(d)
#pragma omp parallel for if (static_cast<double>(len) * len > kParallelWork)
      for (int i = 0; i < len; ++i) {
        float* row = p + static_cast<std::size_t>(i) * len;
        const int j0 = first_key(i, s.sliding_window);
        float mx = -INFINITY;
        for (int j = j0; j <= i; ++j) mx = std::max(mx, row[j]);
        float sum = 0.0f;
        for (int j = 0; j < len; ++j) {
          const float e = (j >= j0 && j <= i) ? std::exp(row[j] - mx) : 0.0f;
          row[j] = e;
          sum += e;
        }
        const float inv = 1.0f / sum;
        for (int j = j0; j <= i; ++j) row[j] *= inv;
        lse.f32()[(base + i) * s.n_heads + h] = mx + std::log(sum);
      }
      sgemm(false, false, len, hd, len, 1.0f, p, len, vb, kc, 0.0f, ob, qc);  // O = P V
    }
  }
}

void CpuBackend::attention_backward(TensorView dout, TensorView q, TensorView k, TensorView v, TensorView out,
                                    TensorView lse, TensorView lengths, const AttentionShape& s, TensorView dq,
                                    TensorView dk, TensorView dv) {
  check_shape(q, k, v, s);
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const int qc = static_cast<int>(q.cols), kc = static_cast<int>(k.cols);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  fill_zero(dq);
  fill_zero(dk);
  fill_zero(dv);
  const std::size_t block = static_cast<std::size_t>(s.seq) * static_cast<std::size_t>(s.seq);
  std::vector<float> pbuf(block), dpbuf(block), dsum(static_cast<std::size_t>(s.seq));
  for (int b = 0; b < s.batch; ++b) {
    const int len = lengths.i32()[b];
    if (len == 0) continue;
    const std::int64_t base = static_cast<std::int64_t>(b) * s.seq;
    for (int h = 0; h < s.n_heads; ++h) {
      const int kvh = h / group;
      const std::int64_t qoff = base * qc + static_cast<std::int64_t>(h) * hd;
      const std::int64_t koff = base * kc + static_cast<std::int64_t>(kvh) * hd;
      float* p = pbuf.data();
      float* dp = dpbuf.data();
      // P = exp(S - lse) from the saved log-sum-exp (masked entries 0).
      sgemm(false, true, len, len, hd, scale, q.f32() + qoff, qc, k.f32() + koff, kc, 0.0f, p, len);
      // dP = dO V^T
      sgemm(false, true, len, len, hd, 1.0f, dout.f32() + qoff, qc, v.f32() + koff, kc, 0.0f, dp, len);
#pragma omp parallel for if (static_cast<double>(len) * len > kParallelWork)
      for (int i = 0; i < len; ++i) {
        float* prow = p + static_cast<std::size_t>(i) * len;
        float* dprow = dp + static_cast<std::size_t>(i) * len;
        const float li = lse.f32()[(base + i) * s.n_heads + h];
        const float di = cpu::dot(dout.f32() + qoff + static_cast<std::int64_t>(i) * qc,
                                  out.f32() + qoff + static_cast<std::int64_t>(i) * qc, hd);
        const int j0 = first_key(i, s.sliding_window);
        for (int j = 0; j < len; ++j) {
          const bool visible = j >= j0 && j <= i;
          const float pij = visible ? std::exp(prow[j] - li) : 0.0f;
          prow[j] = pij;
          dprow[j] = visible ? pij * (dprow[j] - di) * scale : 0.0f;  // dS (already times the score scale)
        }
      }
      // dV += P^T dO ; dQ = dS K ; dK += dS^T Q
      sgemm(true, false, len, hd, len, 1.0f, p, len, dout.f32() + qoff, qc, 1.0f, dv.f32() + koff, kc);
      sgemm(false, false, len, hd, len, 1.0f, dp, len, k.f32() + koff, kc, 0.0f, dq.f32() + qoff, qc);
      sgemm(true, false, len, hd, len, 1.0f, dp, len, q.f32() + qoff, qc, 1.0f, dk.f32() + koff, kc);
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
        const std::int64_t kv_off = static_cast<std::int64_t>(h / group) * hd;
        const std::int64_t q_off = static_cast<std::int64_t>(i) * qc + static_cast<std::int64_t>(h) * hd;
        cpu::decode_row_head(q.f32() + q_off, k_cache.f32() + kv_off, v_cache.f32() + kv_off, kc, past + i,
                             s.sliding_window, hd, scale, p.data(), out.f32() + q_off);
      }
    }
  }
}

}  // namespace personas
