// SwiGLU launchers (kernels in swiglu.cu): gate_up [n, 2f] = [gate | up],
// out [n, f] = silu(gate) * up; the backward writes dgate_up [n, 2f].
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

void launch_swiglu_forward(const float* gate_up, std::int64_t rows, std::int64_t f, float* out, cudaStream_t stream);
void launch_swiglu_backward(const float* dout, const float* gate_up, std::int64_t rows, std::int64_t f,
                            float* dgate_up, cudaStream_t stream);

}  // namespace personas::cuda
