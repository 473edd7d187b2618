// AdamW launcher (kernel in adamw.cu) over flat fp32 arrays, decoupled weight
// decay; the bias corrections are computed on the host in double, as the CPU does.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

void launch_adamw(float* param, const float* grad, float* m, float* v, std::int64_t n, float beta1, float beta2,
                  float eps, float decay, float step_size, float bc2_sqrt, cudaStream_t stream);

}  // namespace personas::cuda
