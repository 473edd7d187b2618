// RoPE kernel: one thread per (row, head, pair). The angle is computed in
// double like the CPU oracle (pos * theta^(-2j/rotary_dim)), then cos/sin are
// rounded to fp32, so long positions keep their precision.
#include <cmath>

#include "cuda_common.cuh"
#include "rope.cuh"

namespace personas::cuda {

namespace {

constexpr int kBlock = 256;

__global__ void rope_kernel(float* x, const std::int32_t* positions, std::int64_t rows, int n_heads, int head_dim,
                            int half, int rotary_dim, double log_theta, float sign) {
  const std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  const std::int64_t total = rows * n_heads * half;
  if (idx >= total) return;
  const int j = static_cast<int>(idx % half);
  const int h = static_cast<int>((idx / half) % n_heads);
  const std::int64_t r = idx / (static_cast<std::int64_t>(half) * n_heads);
  const double inv_freq = exp(-log_theta * (2.0 * j) / rotary_dim);
  const double angle = static_cast<double>(positions[r]) * inv_freq;
  const float c = static_cast<float>(cos(angle));
  const float s = sign * static_cast<float>(sin(angle));
  float* p = x + r * static_cast<std::int64_t>(n_heads) * head_dim + static_cast<std::int64_t>(h) * head_dim;
  const float x1 = p[j], x2 = p[j + half];
  p[j] = x1 * c - x2 * s;
  p[j + half] = x2 * c + x1 * s;
}

}  // namespace

void launch_rope(float* x, const std::int32_t* positions, std::int64_t rows, int n_heads, int head_dim,
                 int rotary_dim, float theta, bool inverse, cudaStream_t stream) {
  const int half = rotary_dim / 2;
  const std::int64_t total = rows * n_heads * half;
  if (total <= 0) return;
  rope_kernel<<<grid_for(total, kBlock), kBlock, 0, stream>>>(x, positions, rows, n_heads, head_dim, half, rotary_dim,
                                                              std::log(static_cast<double>(theta)),
                                                              inverse ? -1.0f : 1.0f);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

}  // namespace personas::cuda
