// Attention kernels. One warp owns one query row (forward, dq) or one key row
// (dk/dv); a block of kWarps warps shares tiles of kTile key (or query) rows
// staged in shared memory. Within a tile lane j scores row j of the tile, the
// warp reduces max/sum with shuffles, and each lane accumulates the output
// dimensions d = lane + 32c in registers (online softmax, FlashAttention-2
// style). The backward recomputes P from the saved log-sum-exp; dq and dk/dv
// run as two kernels so that every output row has exactly one writer: no
// atomics, deterministic results.
#include <cmath>

#include "attention.cuh"
#include "cuda_common.cuh"

namespace personas::cuda {

namespace {

constexpr int kWarps = 8;   // query (or key) rows per block
constexpr int kTile = 32;   // key (or query) rows per shared-memory tile = warp size
constexpr int kMaxHd = kAttentionMaxHeadDim;
constexpr int kChunks = kMaxHd / kWarpSize;
constexpr unsigned kFull = 0xffffffffu;

struct Params {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* out = nullptr;   // backward: the forward output
  const float* dout = nullptr;  // backward
  const float* lse_in = nullptr;
  const float* dsum = nullptr;  // backward: dot(dout, out) per (row, head)
  float* o = nullptr;           // forward output / dq / dk
  float* o2 = nullptr;          // dv
  float* lse = nullptr;         // forward: may be null (decode)
  const std::int32_t* lengths = nullptr;  // null: all rows valid (decode)
  int seq = 1, n_heads = 1, group = 1, hd = 1, window = 0, past = 0;
  std::int64_t q_stride = 0, kv_stride = 0;
  std::int64_t kv_batch_rows = 0;  // rows between sequences in k/v (0 for the decode cache)
  float scale = 1.0f;
};

__device__ __forceinline__ int first_key(int pos, int window) { return window > 0 ? max(0, pos - window + 1) : 0; }

__device__ __forceinline__ float dot_smem(const float* a, const float* b, int hd) {
  float acc = 0.0f;
  for (int d = 0; d < hd; ++d) acc += a[d] * b[d];
  return acc;
}

// Forward (and decode): grid (ceil(seq/kWarps), n_heads, batch).
__global__ void __launch_bounds__(kWarps* kWarpSize) attention_forward_kernel(Params p) {
  __shared__ float qs[kWarps][kMaxHd];
  __shared__ float ks[kTile][kMaxHd + 1];
  __shared__ float vs[kTile][kMaxHd + 1];
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / p.group, hd = p.hd;
  const int i0 = blockIdx.x * kWarps, i = i0 + warp;
  const int qlen = p.lengths ? p.lengths[b] : p.seq;
  const bool in_range = i < p.seq;
  const bool active = in_range && i < qlen;
  const std::int64_t qrow = static_cast<std::int64_t>(b) * p.seq + i;
  float* orow = p.o + qrow * p.q_stride + static_cast<std::int64_t>(h) * hd;
  if (i0 >= qlen) {  // the whole block is padding (uniform exit, before any barrier)
    if (in_range) {
      for (int d = lane; d < hd; d += kWarpSize) orow[d] = 0.0f;
      if (p.lse && lane == 0) p.lse[qrow * p.n_heads + h] = 0.0f;
    }
    return;
  }
  const int last_row = min(i0 + kWarps - 1, qlen - 1);
  const int key_lo = first_key(p.past + i0, p.window), key_hi = p.past + last_row;
  const int pos = p.past + i, my_lo = first_key(pos, p.window);
  const std::int64_t kv_off =
      static_cast<std::int64_t>(b) * p.kv_batch_rows * p.kv_stride + static_cast<std::int64_t>(kvh) * hd;
  if (active)
    for (int d = lane; d < hd; d += kWarpSize) qs[warp][d] = p.q[qrow * p.q_stride + static_cast<std::int64_t>(h) * hd + d];
  float m = -INFINITY, l = 0.0f, acc[kChunks];
#pragma unroll
  for (int c = 0; c < kChunks; ++c) acc[c] = 0.0f;
  for (int t0 = key_lo; t0 <= key_hi; t0 += kTile) {
    __syncthreads();
    for (int e = threadIdx.x; e < kTile * hd; e += blockDim.x) {
      const int jj = e / hd, d = e % hd, j = t0 + jj;
      const bool ok = j <= key_hi;
      ks[jj][d] = ok ? p.k[kv_off + static_cast<std::int64_t>(j) * p.kv_stride + d] : 0.0f;
      vs[jj][d] = ok ? p.v[kv_off + static_cast<std::int64_t>(j) * p.kv_stride + d] : 0.0f;
    }
    __syncthreads();
    if (!active) continue;  // warp-uniform
    const int j = t0 + lane;
    const bool visible = j >= my_lo && j <= pos;
    const float s = visible ? dot_smem(qs[warp], ks[lane], hd) * p.scale : -INFINITY;
    const float tile_max = warp_max(s);
    if (tile_max == -INFINITY) continue;  // nothing visible in this tile for this row
    const float new_m = fmaxf(m, tile_max);
    const float corr = expf(m - new_m);  // 0 on the first visible tile (m = -inf)
    const float pj = visible ? expf(s - new_m) : 0.0f;
    l = l * corr + warp_sum(pj);
#pragma unroll
    for (int c = 0; c < kChunks; ++c) acc[c] *= corr;
    for (int jj = 0; jj < kTile; ++jj) {
      const float pb = __shfl_sync(kFull, pj, jj);
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const int d = lane + c * kWarpSize;
        if (d < hd) acc[c] += pb * vs[jj][d];
      }
    }
    m = new_m;
  }
  if (active) {
    const float inv = 1.0f / l;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      const int d = lane + c * kWarpSize;
      if (d < hd) orow[d] = acc[c] * inv;
    }
    if (p.lse && lane == 0) p.lse[qrow * p.n_heads + h] = m + logf(l);
  } else if (in_range) {
    for (int d = lane; d < hd; d += kWarpSize) orow[d] = 0.0f;
    if (p.lse && lane == 0) p.lse[qrow * p.n_heads + h] = 0.0f;
  }
}

// dsum[row, h] = dot(dout[row, h], out[row, h]); one warp per (row, head).
__global__ void attention_dsum_kernel(const float* dout, const float* out, std::int64_t rows, int n_heads, int hd,
                                      std::int64_t stride, float* dsum) {
  const std::int64_t w = (blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (w >= rows * n_heads) return;  // warp-uniform
  const std::int64_t row = w / n_heads;
  const int h = static_cast<int>(w % n_heads);
  const float* a = dout + row * stride + static_cast<std::int64_t>(h) * hd;
  const float* o = out + row * stride + static_cast<std::int64_t>(h) * hd;
  float acc = 0.0f;
  for (int d = lane; d < hd; d += kWarpSize) acc += a[d] * o[d];
  acc = warp_sum(acc);
  if (lane == 0) dsum[w] = acc;
}

// dq: grid (ceil(seq/kWarps), n_heads, batch); one warp per query row.
__global__ void __launch_bounds__(kWarps* kWarpSize) attention_dq_kernel(Params p) {
  __shared__ float qs[kWarps][kMaxHd];
  __shared__ float dos[kWarps][kMaxHd];
  __shared__ float ks[kTile][kMaxHd + 1];
  __shared__ float vs[kTile][kMaxHd + 1];
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / p.group, hd = p.hd;
  const int i0 = blockIdx.x * kWarps, i = i0 + warp;
  const int len = p.lengths[b];
  const bool in_range = i < p.seq, active = in_range && i < len;
  const std::int64_t qrow = static_cast<std::int64_t>(b) * p.seq + i;
  const std::int64_t qoff = qrow * p.q_stride + static_cast<std::int64_t>(h) * hd;
  if (i0 >= len) {
    if (in_range)
      for (int d = lane; d < hd; d += kWarpSize) p.o[qoff + d] = 0.0f;
    return;
  }
  const int last_row = min(i0 + kWarps - 1, len - 1);
  const int key_lo = first_key(i0, p.window), key_hi = last_row;
  const int my_lo = first_key(i, p.window);
  const std::int64_t kv_off =
      static_cast<std::int64_t>(b) * p.seq * p.kv_stride + static_cast<std::int64_t>(kvh) * hd;
  float lse_i = 0.0f, dsum_i = 0.0f;
  if (active) {
    for (int d = lane; d < hd; d += kWarpSize) {
      qs[warp][d] = p.q[qoff + d];
      dos[warp][d] = p.dout[qoff + d];
    }
    lse_i = p.lse_in[qrow * p.n_heads + h];
    dsum_i = p.dsum[qrow * p.n_heads + h];
  }
  float acc[kChunks];
#pragma unroll
  for (int c = 0; c < kChunks; ++c) acc[c] = 0.0f;
  for (int t0 = key_lo; t0 <= key_hi; t0 += kTile) {
    __syncthreads();
    for (int e = threadIdx.x; e < kTile * hd; e += blockDim.x) {
      const int jj = e / hd, d = e % hd, j = t0 + jj;
      const bool ok = j <= key_hi;
      ks[jj][d] = ok ? p.k[kv_off + static_cast<std::int64_t>(j) * p.kv_stride + d] : 0.0f;
      vs[jj][d] = ok ? p.v[kv_off + static_cast<std::int64_t>(j) * p.kv_stride + d] : 0.0f;
    }
    __syncthreads();
    if (!active) continue;
    const int j = t0 + lane;
    float ds = 0.0f;
    if (j >= my_lo && j <= i) {
      const float pij = expf(dot_smem(qs[warp], ks[lane], hd) * p.scale - lse_i);
      const float dp = dot_smem(dos[warp], vs[lane], hd);
      ds = pij * (dp - dsum_i) * p.scale;
    }
    for (int jj = 0; jj < kTile; ++jj) {
      const float db = __shfl_sync(kFull, ds, jj);
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const int d = lane + c * kWarpSize;
        if (d < hd) acc[c] += db * ks[jj][d];
      }
    }
  }
  if (in_range) {
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      const int d = lane + c * kWarpSize;
      if (d < hd) p.o[qoff + d] = active ? acc[c] : 0.0f;
    }
  }
}

// dk, dv: grid (ceil(seq/kWarps), n_kv_heads, batch); one warp per key row,
// looping over the query heads of its group and over tiles of query rows.
__global__ void __launch_bounds__(kWarps* kWarpSize) attention_dkdv_kernel(Params p) {
  __shared__ float kself[kWarps][kMaxHd];
  __shared__ float vself[kWarps][kMaxHd];
  __shared__ float qt[kTile][kMaxHd + 1];
  __shared__ float dot[kTile][kMaxHd + 1];
  __shared__ float lse_t[kTile];
  __shared__ float dsum_t[kTile];
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int kvh = blockIdx.y, b = blockIdx.z, hd = p.hd;
  const int j0 = blockIdx.x * kWarps, j = j0 + warp;
  const int len = p.lengths[b];
  const bool in_range = j < p.seq, active = in_range && j < len;
  const std::int64_t krow = static_cast<std::int64_t>(b) * p.seq + j;
  const std::int64_t koff = krow * p.kv_stride + static_cast<std::int64_t>(kvh) * hd;
  if (j0 >= len) {
    if (in_range)
      for (int d = lane; d < hd; d += kWarpSize) p.o[koff + d] = p.o2[koff + d] = 0.0f;
    return;
  }
  const int last_key = min(j0 + kWarps - 1, len - 1);
  const int q_lo = j0;
  const int q_hi = p.window > 0 ? min(len - 1, last_key + p.window - 1) : len - 1;
  if (active)
    for (int d = lane; d < hd; d += kWarpSize) {
      kself[warp][d] = p.k[koff + d];
      vself[warp][d] = p.v[koff + d];
    }
  float dk[kChunks], dv[kChunks];
#pragma unroll
  for (int c = 0; c < kChunks; ++c) dk[c] = dv[c] = 0.0f;
  const std::int64_t qbase = static_cast<std::int64_t>(b) * p.seq;
  for (int hh = 0; hh < p.group; ++hh) {
    const int h = kvh * p.group + hh;
    for (int t0 = q_lo; t0 <= q_hi; t0 += kTile) {
      __syncthreads();
      for (int e = threadIdx.x; e < kTile * hd; e += blockDim.x) {
        const int ii = e / hd, d = e % hd, i = t0 + ii;
        const bool ok = i <= q_hi;
        const std::int64_t off = (qbase + i) * p.q_stride + static_cast<std::int64_t>(h) * hd + d;
        qt[ii][d] = ok ? p.q[off] : 0.0f;
        dot[ii][d] = ok ? p.dout[off] : 0.0f;
      }
      if (threadIdx.x < kTile) {
        const int i = t0 + threadIdx.x;
        const bool ok = i <= q_hi;
        lse_t[threadIdx.x] = ok ? p.lse_in[(qbase + i) * p.n_heads + h] : 0.0f;
        dsum_t[threadIdx.x] = ok ? p.dsum[(qbase + i) * p.n_heads + h] : 0.0f;
      }
      __syncthreads();
      if (!active) continue;
      const int i = t0 + lane;
      float pij = 0.0f, ds = 0.0f;
      if (i <= q_hi && i >= j && (p.window == 0 || i - j < p.window)) {
        pij = expf(dot_smem(qt[lane], kself[warp], hd) * p.scale - lse_t[lane]);
        const float dp = dot_smem(dot[lane], vself[warp], hd);
        ds = pij * (dp - dsum_t[lane]) * p.scale;
      }
      for (int ii = 0; ii < kTile; ++ii) {
        const float pb = __shfl_sync(kFull, pij, ii);
        const float db = __shfl_sync(kFull, ds, ii);
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
          const int d = lane + c * kWarpSize;
          if (d < hd) {
            dv[c] += pb * dot[ii][d];
            dk[c] += db * qt[ii][d];
          }
        }
      }
    }
  }
  if (in_range) {
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      const int d = lane + c * kWarpSize;
      if (d < hd) {
        p.o[koff + d] = active ? dk[c] : 0.0f;
        p.o2[koff + d] = active ? dv[c] : 0.0f;
      }
    }
  }
}

Params base_params(const AttentionDims& dims) {
  Params p;
  p.seq = dims.seq;
  p.n_heads = dims.n_heads;
  p.group = dims.n_heads / dims.n_kv_heads;
  p.hd = dims.head_dim;
  p.window = dims.sliding_window;
  p.q_stride = static_cast<std::int64_t>(dims.n_heads) * dims.head_dim;
  p.kv_stride = static_cast<std::int64_t>(dims.n_kv_heads) * dims.head_dim;
  p.kv_batch_rows = dims.seq;
  p.scale = 1.0f / std::sqrt(static_cast<float>(dims.head_dim));
  return p;
}

dim3 row_grid(const AttentionDims& dims, int heads) {
  return dim3(static_cast<unsigned>((dims.seq + kWarps - 1) / kWarps), static_cast<unsigned>(heads),
              static_cast<unsigned>(dims.batch));
}

}  // namespace

void launch_attention_forward(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                              const AttentionDims& dims, float* out, float* lse, cudaStream_t stream) {
  if (dims.batch <= 0 || dims.seq <= 0) return;
  Params p = base_params(dims);
  p.q = q;
  p.k = k;
  p.v = v;
  p.lengths = lengths;
  p.o = out;
  p.lse = lse;
  attention_forward_kernel<<<row_grid(dims, dims.n_heads), kWarps * kWarpSize, 0, stream>>>(p);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* out,
                               const float* lse, const std::int32_t* lengths, const AttentionDims& dims, float* dq,
                               float* dk, float* dv, float* scratch, cudaStream_t stream) {
  if (dims.batch <= 0 || dims.seq <= 0) return;
  Params p = base_params(dims);
  const std::int64_t rows = static_cast<std::int64_t>(dims.batch) * dims.seq;
  const std::int64_t warps = rows * dims.n_heads;
  attention_dsum_kernel<<<grid_for(warps * kWarpSize, 256), 256, 0, stream>>>(dout, out, rows, dims.n_heads,
                                                                              dims.head_dim, p.q_stride, scratch);
  PERSONAS_CUDA_CHECK_LAUNCH();
  p.q = q;
  p.k = k;
  p.v = v;
  p.out = out;
  p.dout = dout;
  p.lse_in = lse;
  p.dsum = scratch;
  p.lengths = lengths;
  p.o = dq;
  attention_dq_kernel<<<row_grid(dims, dims.n_heads), kWarps * kWarpSize, 0, stream>>>(p);
  PERSONAS_CUDA_CHECK_LAUNCH();
  p.o = dk;
  p.o2 = dv;
  attention_dkdv_kernel<<<row_grid(dims, dims.n_kv_heads), kWarps * kWarpSize, 0, stream>>>(p);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_attention_decode(const float* q, const float* k_cache, const float* v_cache, std::int64_t kv_cols,
                             int past, const AttentionDims& dims, float* out, cudaStream_t stream) {
  if (dims.seq <= 0) return;
  Params p = base_params(dims);
  p.q = q;
  p.k = k_cache;
  p.v = v_cache;
  p.kv_stride = kv_cols;
  p.kv_batch_rows = 0;
  p.past = past;
  p.o = out;
  AttentionDims one = dims;
  one.batch = 1;
  attention_forward_kernel<<<row_grid(one, dims.n_heads), kWarps * kWarpSize, 0, stream>>>(p);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_attention_prefix(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                             const AttentionDims& dims, int n_prefix, float* out, cudaStream_t stream) {
  if (dims.batch <= 0 || dims.seq <= 0) return;
  Params p = base_params(dims);
  p.q = q;
  p.k = k;
  p.v = v;
  p.lengths = lengths;
  p.past = n_prefix;
  p.kv_batch_rows = static_cast<std::int64_t>(n_prefix) + dims.seq;
  p.o = out;
  attention_forward_kernel<<<row_grid(dims, dims.n_heads), kWarps * kWarpSize, 0, stream>>>(p);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

}  // namespace personas::cuda
