// SwiGLU kernels: one thread per output element (expf, fp32).
#include "cuda_common.cuh"
#include "swiglu.cuh"

namespace personas::cuda {

namespace {

constexpr int kBlock = 256;

__global__ void swiglu_forward_kernel(const float* gate_up, std::int64_t rows, std::int64_t f, float* out) {
  const std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= rows * f) return;
  const std::int64_t r = idx / f, j = idx % f;
  const float g = gate_up[r * 2 * f + j];
  const float u = gate_up[r * 2 * f + f + j];
  out[idx] = g / (1.0f + expf(-g)) * u;
}

__global__ void swiglu_backward_kernel(const float* dout, const float* gate_up, std::int64_t rows, std::int64_t f,
                                       float* dgate_up) {
  const std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= rows * f) return;
  const std::int64_t r = idx / f, j = idx % f;
  const float g = gate_up[r * 2 * f + j];
  const float u = gate_up[r * 2 * f + f + j];
  const float d = dout[idx];
  const float sig = 1.0f / (1.0f + expf(-g));
  // Read both inputs before writing: dgate_up may alias gate_up element-wise.
  dgate_up[r * 2 * f + f + j] = d * g * sig;
  dgate_up[r * 2 * f + j] = d * u * sig * (1.0f + g * (1.0f - sig));
}

}  // namespace

void launch_swiglu_forward(const float* gate_up, std::int64_t rows, std::int64_t f, float* out, cudaStream_t stream) {
  if (rows * f <= 0) return;
  swiglu_forward_kernel<<<grid_for(rows * f, kBlock), kBlock, 0, stream>>>(gate_up, rows, f, out);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_swiglu_backward(const float* dout, const float* gate_up, std::int64_t rows, std::int64_t f,
                            float* dgate_up, cudaStream_t stream) {
  if (rows * f <= 0) return;
  swiglu_backward_kernel<<<grid_for(rows * f, kBlock), kBlock, 0, stream>>>(dout, gate_up, rows, f, dgate_up);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

}  // namespace personas::cuda
