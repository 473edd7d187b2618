// Embedding kernels: one block per token row, threads over the width.
#include <cuda_bf16.h>

#include "cuda_common.cuh"
#include "embedding.cuh"

namespace personas::cuda {

namespace {

constexpr int kBlock = 256;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// T = float, or __nv_bfloat16 for a frozen table stored in bf16 (widened exactly).
template <typename T>
__global__ void embedding_forward_kernel(const std::int32_t* ids, const T* table, std::int64_t vocab,
                                         std::int64_t width, float* out, int* error_word) {
  const std::int64_t row = blockIdx.x;
  const std::int64_t id = ids[row];
  const bool valid = id >= 0 && id < vocab;
  if (!valid && threadIdx.x == 0) atomicOr(error_word, kErrorEmbeddingId);
  for (std::int64_t j = threadIdx.x; j < width; j += blockDim.x)
    out[row * width + j] = valid ? to_float(table[id * width + j]) : 0.0f;
}

__global__ void embedding_backward_kernel(const float* dout, const std::int32_t* ids, float* dtable,
                                          std::int64_t vocab, std::int64_t width, int* error_word) {
  const std::int64_t row = blockIdx.x;
  const std::int64_t id = ids[row];
  if (id < 0) return;
  if (id >= vocab) {
    if (threadIdx.x == 0) atomicOr(error_word, kErrorEmbeddingId);
    return;
  }
  for (std::int64_t j = threadIdx.x; j < width; j += blockDim.x) atomicAdd(&dtable[id * width + j], dout[row * width + j]);
}

}  // namespace

void launch_embedding_forward(const std::int32_t* ids, std::int64_t n, const float* table, std::int64_t vocab,
                              std::int64_t width, float* out, int* error_word, cudaStream_t stream) {
  if (n <= 0 || width <= 0) return;
  embedding_forward_kernel<<<static_cast<unsigned>(n), kBlock, 0, stream>>>(ids, table, vocab, width, out, error_word);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_embedding_forward_bf16(const std::int32_t* ids, std::int64_t n, const void* table, std::int64_t vocab,
                                   std::int64_t width, float* out, int* error_word, cudaStream_t stream) {
  if (n <= 0 || width <= 0) return;
  embedding_forward_kernel<<<static_cast<unsigned>(n), kBlock, 0, stream>>>(
      ids, static_cast<const __nv_bfloat16*>(table), vocab, width, out, error_word);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_embedding_backward(const float* dout, const std::int32_t* ids, std::int64_t n, float* dtable,
                               std::int64_t vocab, std::int64_t width, int* error_word, cudaStream_t stream) {
  if (n <= 0 || width <= 0) return;
  embedding_backward_kernel<<<static_cast<unsigned>(n), kBlock, 0, stream>>>(dout, ids, dtable, vocab, width,
                                                                              error_word);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

}  // namespace personas::cuda
