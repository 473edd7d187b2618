// RMSNorm launchers (kernels in rmsnorm.cu): out = x * rstd * weight,
// rstd = 1/sqrt(mean(x^2) + eps); the weight is frozen (no dweight).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

void launch_rmsnorm_forward(const float* x, const float* weight, float eps, std::int64_t rows, std::int64_t cols,
                            float* out, float* rstd, cudaStream_t stream);
void launch_rmsnorm_backward(const float* dout, const float* x, const float* weight, const float* rstd,
                             std::int64_t rows, std::int64_t cols, float* dx, bool accumulate, cudaStream_t stream);

}  // namespace personas::cuda
