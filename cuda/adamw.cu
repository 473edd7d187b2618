// AdamW kernel: one thread per parameter (grid-stride), fp32 state.
#include "adamw.cuh"
#include "cuda_common.cuh"

namespace personas::cuda {

namespace {

constexpr int kBlock = 256;

__global__ void adamw_kernel(float* w, const float* g, float* m, float* v, std::int64_t n, float beta1, float beta2,
                             float eps, float decay, float step_size, float bc2_sqrt) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float gi = g[i];
    const float wi = w[i] * decay;
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) / bc2_sqrt + eps;
    w[i] = wi - step_size * mi / denom;
  }
}

}  // namespace

void launch_adamw(float* param, const float* grad, float* m, float* v, std::int64_t n, float beta1, float beta2,
                  float eps, float decay, float step_size, float bc2_sqrt, cudaStream_t stream) {
  if (n <= 0) return;
  unsigned grid = grid_for(n, kBlock);
  if (grid > 65535u * 8u) grid = 65535u * 8u;
  adamw_kernel<<<grid, kBlock, 0, stream>>>(param, grad, m, v, n, beta1, beta2, eps, decay, step_size, bc2_sqrt);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

}  // namespace personas::cuda
