// RMSNorm kernels: one block per row, block reductions in fp32.
#include "cuda_common.cuh"
#include "rmsnorm.cuh"

namespace personas::cuda {

namespace {

constexpr int kBlock = 256;

__global__ void rmsnorm_forward_kernel(const float* x, const float* weight, float eps, std::int64_t cols, float* out,
                                       float* rstd) {
  __shared__ float scratch[32];
  const std::int64_t row = blockIdx.x;
  const float* px = x + row * cols;
  float ss = 0.0f;
  for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) ss += px[j] * px[j];
  ss = block_sum(ss, scratch);
  const float s = 1.0f / sqrtf(ss / static_cast<float>(cols) + eps);
  if (threadIdx.x == 0) rstd[row] = s;
  for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) out[row * cols + j] = weight[j] * (px[j] * s);
}

__global__ void rmsnorm_backward_kernel(const float* dout, const float* x, const float* weight, const float* rstd,
                                        std::int64_t cols, float* dx, bool accumulate) {
  __shared__ float scratch[32];
  const std::int64_t row = blockIdx.x;
  const float* px = x + row * cols;
  const float* g = dout + row * cols;
  float gwx = 0.0f;
  for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) gwx += g[j] * weight[j] * px[j];
  gwx = block_sum(gwx, scratch);
  const float s = rstd[row];
  const float c = gwx * s * s * s / static_cast<float>(cols);
  float* pdx = dx + row * cols;
  for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = g[j] * weight[j] * s - px[j] * c;
    pdx[j] = accumulate ? pdx[j] + v : v;
  }
}

}  // namespace

void launch_rmsnorm_forward(const float* x, const float* weight, float eps, std::int64_t rows, std::int64_t cols,
                            float* out, float* rstd, cudaStream_t stream) {
  if (rows <= 0) return;
  rmsnorm_forward_kernel<<<static_cast<unsigned>(rows), kBlock, 0, stream>>>(x, weight, eps, cols, out, rstd);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_rmsnorm_backward(const float* dout, const float* x, const float* weight, const float* rstd,
                             std::int64_t rows, std::int64_t cols, float* dx, bool accumulate, cudaStream_t stream) {
  if (rows <= 0) return;
  rmsnorm_backward_kernel<<<static_cast<unsigned>(rows), kBlock, 0, stream>>>(dout, x, weight, rstd, cols, dx,
                                                                               accumulate);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

}  // namespace personas::cuda
