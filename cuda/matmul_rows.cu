// Batch-invariant matmul (see matmul_rows.cuh): grid (columns / warps per
// block, row chunks), each warp one column of one chunk of kRows rows.
#include <cuda_bf16.h>

#include "cuda_common.cuh"
#include "matmul_rows.cuh"

namespace personas::cuda {

namespace {

constexpr int kRows = 8;           // rows per warp pass (registers)
constexpr int kWarpsPerBlock = 8;  // columns per block

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename W>
__global__ void __launch_bounds__(kWarpsPerBlock* kWarpSize)
    matmul_rows_kernel(const float* x, const W* w, float* y, std::int64_t m, std::int64_t n, std::int64_t k,
                       float alpha, float beta) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + warp;
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * kRows;
  if (col >= n) return;
  const W* wc = w + col * k;
  float acc[kRows];
#pragma unroll
  for (int i = 0; i < kRows; ++i) acc[i] = 0.0f;
  for (std::int64_t p = lane; p < k; p += kWarpSize) {
    const float wv = to_float(wc[p]);
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const std::int64_t r = r0 + i < m ? r0 + i : m - 1;  // rows past m repeat the last one, never written
      acc[i] = fmaf(x[r * k + p], wv, acc[i]);
    }
  }
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    const float v = warp_sum(acc[i]);
    if (lane == 0 && r0 + i < m) {
      float* out = y + (r0 + i) * n + col;
      *out = beta == 0.0f ? alpha * v : fmaf(beta, *out, alpha * v);
    }
  }
}

template <typename W>
void launch(const float* x, const W* w, float* y, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
            float beta, cudaStream_t stream) {
  if (m <= 0 || n <= 0) return;
  const dim3 grid(grid_for(n, kWarpsPerBlock), static_cast<unsigned>((m + kRows - 1) / kRows));
  matmul_rows_kernel<W><<<grid, kWarpsPerBlock * kWarpSize, 0, stream>>>(x, w, y, m, n, k, alpha, beta);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_matmul_rows(const float* x, const float* w, float* y, std::int64_t m, std::int64_t n, std::int64_t k,
                        float alpha, float beta, cudaStream_t stream) {
  launch(x, w, y, m, n, k, alpha, beta, stream);
}

void launch_matmul_rows_bf16(const float* x, const void* w, float* y, std::int64_t m, std::int64_t n, std::int64_t k,
                             float alpha, float beta, cudaStream_t stream) {
  launch(x, static_cast<const __nv_bfloat16*>(w), y, m, n, k, alpha, beta, stream);
}

}  // namespace personas::cuda
