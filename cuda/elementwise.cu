// Elementwise kernels: residual add, scale, dropout, fp32 -> bf16 conversion.
#include <cuda_bf16.h>

#include "core/hash.h"
#include "cuda_common.cuh"
#include "elementwise.cuh"

namespace personas::cuda {

namespace {

constexpr int kBlock = 256;

__global__ void add_kernel(float* y, const float* x, float alpha, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    y[i] += alpha * x[i];
}

__global__ void scale_kernel(float* y, float beta, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    y[i] = beta == 0.0f ? 0.0f : y[i] * beta;
}


__global__ void dropout_kernel(const float* x, float* out, std::int64_t n, float p, float keep_scale,
                               std::uint64_t seed_hash) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    // The hash of dropout_uniform() in src/backend/cpu/cpu_backend.cpp (core/hash.h).
    const std::uint64_t h = personas::splitmix64_hash(seed_hash ^ static_cast<std::uint64_t>(i));
    const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
    out[i] = u >= p ? x[i] * keep_scale : 0.0f;
  }
}

__global__ void f32_to_bf16_kernel(const float* src, __nv_bfloat16* dst, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}


// Sum of squares in double, deterministic: pass 1 gives each of a fixed
// number of blocks a grid-stride partial (tree-summed in shared memory),
// pass 2 sums the partials in one block in a fixed order.
__device__ __forceinline__ double block_sum_double(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
    __syncthreads();
  }
  return shared[0];
}

__global__ void sum_squares_partial_kernel(const float* x, std::int64_t n, double* partials) {
  __shared__ double shared[kBlock];
  double acc = 0.0;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const double v = x[i];
    acc += v * v;
  }
  const double total = block_sum_double(acc, shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

__global__ void sum_partials_kernel(const double* partials, int n_partials, double* out) {
  __shared__ double shared[kBlock];
  double acc = 0.0;
  for (int i = threadIdx.x; i < n_partials; i += blockDim.x) acc += partials[i];
  const double total = block_sum_double(acc, shared);
  if (threadIdx.x == 0) *out = total;
}

unsigned capped_grid(std::int64_t n) {
  const unsigned g = grid_for(n, kBlock);
  return g > 65535u * 8u ? 65535u * 8u : g;  // grid-stride loops cover the rest
}

}  // namespace

void launch_add(float* y, const float* x, float alpha, std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  add_kernel<<<capped_grid(n), kBlock, 0, stream>>>(y, x, alpha, n);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_scale(float* y, float beta, std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  scale_kernel<<<capped_grid(n), kBlock, 0, stream>>>(y, beta, n);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_sum_squares(const float* x, std::int64_t n, double* partials, double* out, cudaStream_t stream) {
  const std::int64_t blocks = n <= 0 ? 1 : (n + kBlock - 1) / kBlock;
  const int grid = static_cast<int>(blocks < kSumSquaresPartials ? blocks : kSumSquaresPartials);
  sum_squares_partial_kernel<<<grid, kBlock, 0, stream>>>(x, n < 0 ? 0 : n, partials);
  PERSONAS_CUDA_CHECK_LAUNCH();
  sum_partials_kernel<<<1, kBlock, 0, stream>>>(partials, grid, out);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_dropout(const float* x, float* out, std::int64_t n, float p, std::uint64_t seed, cudaStream_t stream) {
  if (n <= 0) return;
  dropout_kernel<<<capped_grid(n), kBlock, 0, stream>>>(x, out, n, p, 1.0f / (1.0f - p), personas::splitmix64_hash(seed));
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_f32_to_bf16(const float* src, void* dst, std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  f32_to_bf16_kernel<<<capped_grid(n), kBlock, 0, stream>>>(src, static_cast<__nv_bfloat16*>(dst), n);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

}  // namespace personas::cuda
