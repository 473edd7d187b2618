// Elementwise launchers (plain C++ declarations; kernels in elementwise.cu).
// All pointers are device pointers; every launch is asynchronous on `stream`.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

// y += alpha * x
void launch_add(float* y, const float* x, float alpha, std::int64_t n, cudaStream_t stream);
// y *= beta
void launch_scale(float* y, float beta, std::int64_t n, cudaStream_t stream);
// *out = sum of x[i]^2 in double, in a fixed order (deterministic run to
// run); partials: device scratch of kSumSquaresPartials doubles.
constexpr int kSumSquaresPartials = 1024;
void launch_sum_squares(const float* x, std::int64_t n, double* partials, double* out, cudaStream_t stream);
// Inverted dropout with the CPU backend's counter-based mask (splitmix64 of
// (seed, index), 24-bit uniform): out may alias x.
void launch_dropout(const float* x, float* out, std::int64_t n, float p, std::uint64_t seed, cudaStream_t stream);
// fp32 -> bf16 (round to nearest even); dst points to n bf16 values.
void launch_f32_to_bf16(const float* src, void* dst, std::int64_t n, cudaStream_t stream);

}  // namespace personas::cuda
