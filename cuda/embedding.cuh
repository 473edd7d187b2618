// Embedding gather / scatter-add launchers (kernels in embedding.cu).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

// Bits set in the backend's device error word by kernels that meet bad input
// (checked and reported by CudaBackend::synchronize()).
constexpr int kErrorEmbeddingId = 1;
constexpr int kErrorTarget = 2;

// out[i] = table[ids[i]]; an id outside [0, vocab) writes zeros and sets kErrorEmbeddingId.
void launch_embedding_forward(const std::int32_t* ids, std::int64_t n, const float* table, std::int64_t vocab,
                              std::int64_t width, float* out, int* error_word, cudaStream_t stream);
// The same gather from a bf16 table (`table` points to vocab*width bf16 values); out is fp32.
void launch_embedding_forward_bf16(const std::int32_t* ids, std::int64_t n, const void* table, std::int64_t vocab,
                                   std::int64_t width, float* out, int* error_word, cudaStream_t stream);
// dtable[ids[i]] += dout[i]; ids < 0 skipped; ids >= vocab set kErrorEmbeddingId.
// Float atomics: the summation order of repeated ids is not fixed.
void launch_embedding_backward(const float* dout, const std::int32_t* ids, std::int64_t n, float* dtable,
                               std::int64_t vocab, std::int64_t width, int* error_word, cudaStream_t stream);

}  // namespace personas::cuda
