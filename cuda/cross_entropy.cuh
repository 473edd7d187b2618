// Fused softmax + cross-entropy launcher (kernel in cross_entropy.cu).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

// logits [rows, vocab]; targets i32 [rows] (-1 = ignored row: loss 0, zero
// gradient); loss [rows]; dlogits (nullptr = no gradient, may alias logits)
// = (softmax - onehot) * grad_scale. Targets >= vocab set kErrorTarget
// (embedding.cuh) in error_word and give loss 0.
void launch_cross_entropy(const float* logits, const std::int32_t* targets, std::int64_t rows, std::int64_t vocab,
                          float* loss, float* dlogits, float grad_scale, int* error_word, cudaStream_t stream);

}  // namespace personas::cuda
