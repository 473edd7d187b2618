// Rotary embedding launcher (kernel in rope.cu), Hugging Face half-split layout.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

// x [rows, n_heads*head_dim] rotated in place; positions i32 [rows].
// inverse = rotate by the negative angle (the backward).
void launch_rope(float* x, const std::int32_t* positions, std::int64_t rows, int n_heads, int head_dim,
                 int rotary_dim, float theta, bool inverse, cudaStream_t stream);

}  // namespace personas::cuda
