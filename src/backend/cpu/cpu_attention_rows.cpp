// Attention for batched generation and prefix-shared scoring on the CPU:
//  * attention_decode_rows: one new token per row, each row over its own
//    sequence's KV cache; OpenMP over (row, head), each through the same
//    decode_row_head as attention_decode (so the same bits as alone);
//  * attention_prefix_forward: suffix queries over a shared prefix plus their
//    own causal part, per (suffix, head) as [len, n_prefix + len] score blocks
//    with sgemm, like attention_forward.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_attention_row.h"
#include "backend/cpu/cpu_backend.h"
#include "core/errors.h"

namespace personas {

void CpuBackend::attention_decode_rows(TensorView q, std::span<const TensorView> k_caches,
                                       std::span<const TensorView> v_caches, std::span<const std::int32_t> pasts,
                                       const AttentionShape& s, TensorView out) {
  const std::int64_t n = q.rows;
  PERSONAS_ASSERT(s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0,
                  "attention_decode_rows: {} heads not a multiple of {} kv heads", s.n_heads, s.n_kv_heads);
  PERSONAS_ASSERT(q.cols == static_cast<std::int64_t>(s.n_heads) * s.head_dim && out.rows == n && out.cols == q.cols,
                  "attention_decode_rows: q [{},{}] out [{},{}] for {} heads of {}", q.rows, q.cols, out.rows,
                  out.cols, s.n_heads, s.head_dim);
  PERSONAS_ASSERT(static_cast<std::int64_t>(k_caches.size()) == n && static_cast<std::int64_t>(v_caches.size()) == n &&
                      static_cast<std::int64_t>(pasts.size()) == n,
                  "attention_decode_rows: {} rows but {} k caches, {} v caches, {} pasts", n, k_caches.size(),
                  v_caches.size(), pasts.size());
  const std::int64_t kv_cols = static_cast<std::int64_t>(s.n_kv_heads) * s.head_dim;
  int longest = 0;
  double work = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    const auto& kc = k_caches[static_cast<std::size_t>(r)];
    const auto& vc = v_caches[static_cast<std::size_t>(r)];
    const int past = pasts[static_cast<std::size_t>(r)];
    PERSONAS_ASSERT(kc.cols == kv_cols && vc.cols == kv_cols && vc.rows == kc.rows && past >= 0 && past < kc.rows,
                    "attention_decode_rows: row {} past {} with a cache [{},{}] / [{},{}] (kv width {})", r, past,
                    kc.rows, kc.cols, vc.rows, vc.cols, kv_cols);
    longest = std::max(longest, past + 1);
    work += static_cast<double>(past + 1) * s.n_heads * s.head_dim;
  }
  fill_zero(out);
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads, n_heads = s.n_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
#pragma omp parallel if (work > cpu::kParallelWork)
  {
    std::vector<float> p(static_cast<std::size_t>(longest));
#pragma omp for collapse(2) schedule(static)
    for (std::int64_t r = 0; r < n; ++r)
      for (int h = 0; h < n_heads; ++h) {
        const std::int64_t kv_off = static_cast<std::int64_t>(h / group) * hd;
        const std::int64_t q_off = r * q.cols + static_cast<std::int64_t>(h) * hd;
        cpu::decode_row_head(q.f32() + q_off, k_caches[static_cast<std::size_t>(r)].f32() + kv_off,
                             v_caches[static_cast<std::size_t>(r)].f32() + kv_off, kv_cols,
                             pasts[static_cast<std::size_t>(r)], s.sliding_window, hd, scale, p.data(),
                             out.f32() + q_off);
      }
  }
}

void CpuBackend::attention_prefix_forward(TensorView q, TensorView k_prefix, TensorView v_prefix, TensorView k,
                                          TensorView v, TensorView lengths, const AttentionShape& s, TensorView out) {
  PERSONAS_ASSERT(s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0,
                  "attention_prefix_forward: {} heads not a multiple of {} kv heads", s.n_heads, s.n_kv_heads);
  const std::int64_t n = static_cast<std::int64_t>(s.batch) * s.seq;
  const std::int64_t qc = static_cast<std::int64_t>(s.n_heads) * s.head_dim,
                     kc = static_cast<std::int64_t>(s.n_kv_heads) * s.head_dim;
  PERSONAS_ASSERT(q.rows == n && q.cols == qc && out.rows == n && out.cols == qc && k.rows == n && v.rows == n &&
                      k.cols == kc && v.cols == kc,
                  "attention_prefix_forward: q [{},{}] k [{},{}] v [{},{}] out [{},{}] for batch {} seq {}", q.rows,
                  q.cols, k.rows, k.cols, v.rows, v.cols, out.rows, out.cols, s.batch, s.seq);
  PERSONAS_ASSERT(k_prefix.cols == kc && v_prefix.cols == kc && v_prefix.rows == k_prefix.rows,
                  "attention_prefix_forward: prefix k [{},{}] v [{},{}] (kv width {})", k_prefix.rows, k_prefix.cols,
                  v_prefix.rows, v_prefix.cols, kc);
  PERSONAS_ASSERT(lengths.dtype == DType::i32 && lengths.numel() == s.batch, "attention_prefix_forward: lengths");
  for (int b = 0; b < s.batch; ++b)
    PERSONAS_ASSERT(lengths.i32()[b] >= 0 && lengths.i32()[b] <= s.seq, "attention_prefix_forward: length {} of row {}",
                    lengths.i32()[b], b);
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const int n_prefix = static_cast<int>(k_prefix.rows);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  fill_zero(out);
  const int width = n_prefix + s.seq;  // score columns: the prefix keys, then the suffix's own
  std::vector<float> scores(static_cast<std::size_t>(s.seq) * static_cast<std::size_t>(width));
  for (int b = 0; b < s.batch; ++b) {
    const int len = lengths.i32()[b];
    if (len == 0) continue;
    const std::int64_t base = static_cast<std::int64_t>(b) * s.seq;
    const int w = n_prefix + len;
    for (int h = 0; h < s.n_heads; ++h) {
      const std::int64_t kv_head = static_cast<std::int64_t>(h / group) * hd;
      const float* qb = q.f32() + base * qc + static_cast<std::int64_t>(h) * hd;
      float* ob = out.f32() + base * qc + static_cast<std::int64_t>(h) * hd;
      float* p = scores.data();
      if (n_prefix > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, n_prefix, hd, scale, qb, static_cast<int>(qc),
                    k_prefix.f32() + kv_head, static_cast<int>(kc), 0.0f, p, w);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, len, hd, scale, qb, static_cast<int>(qc),
                  k.f32() + base * kc + kv_head, static_cast<int>(kc), 0.0f, p + n_prefix, w);
#pragma omp parallel for if (static_cast<double>(len) * w > cpu::kParallelWork)
      for (int i = 0; i < len; ++i) {
        float* row = p + static_cast<std::size_t>(i) * w;
        // Visible: absolute key positions j0 .. n_prefix + i.
        const int j0 = cpu::first_key(n_prefix + i, s.sliding_window), j1 = n_prefix + i;
        float mx = -INFINITY;
        for (int j = j0; j <= j1; ++j) mx = std::max(mx, row[j]);
        float sum = 0.0f;
        for (int j = 0; j < w; ++j) {
          const float e = (j >= j0 && j <= j1) ? std::exp(row[j] - mx) : 0.0f;
          row[j] = e;
          sum += e;
        }
        const float inv = 1.0f / sum;
        for (int j = j0; j <= j1; ++j) row[j] *= inv;
      }
      if (n_prefix > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, hd, n_prefix, 1.0f, p, w,
                    v_prefix.f32() + kv_head, static_cast<int>(kc), 0.0f, ob, static_cast<int>(qc));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, hd, len, 1.0f, p + n_prefix, w,
                  v.f32() + base * kc + kv_head, static_cast<int>(kc), n_prefix > 0 ? 1.0f : 0.0f, ob,
                  static_cast<int>(qc));
    }
  }
}

}  // namespace personas
