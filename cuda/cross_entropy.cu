// Cross-entropy kernel: one block per row. Pass 1: max; pass 2: sum of
// exp(x - max); then loss = lse - x[target] and, in a third pass, the
// gradient written over the logits when they alias (each element is read and
// written by the same thread, and x[target] is read before any write).
#include "cross_entropy.cuh"
#include "cuda_common.cuh"
#include "embedding.cuh"

namespace personas::cuda {

namespace {

constexpr int kBlock = 512;

__global__ void cross_entropy_kernel(const float* logits, const std::int32_t* targets, std::int64_t vocab,
                                     float* loss, float* dlogits, float grad_scale, int* error_word) {
  __shared__ float scratch[32];
  const std::int64_t row = blockIdx.x;
  const float* x = logits + row * vocab;
  float* dx = dlogits != nullptr ? dlogits + row * vocab : nullptr;
  const std::int32_t t = targets[row];
  if (t < 0 || t >= vocab) {
    if (t >= vocab && threadIdx.x == 0) atomicOr(error_word, kErrorTarget);
    if (threadIdx.x == 0) loss[row] = 0.0f;
    if (dx)
      for (std::int64_t j = threadIdx.x; j < vocab; j += blockDim.x) dx[j] = 0.0f;
    return;
  }
  float mx = -FLT_MAX;
  for (std::int64_t j = threadIdx.x; j < vocab; j += blockDim.x) mx = fmaxf(mx, x[j]);
  mx = block_max(mx, scratch);
  float sum = 0.0f;
  for (std::int64_t j = threadIdx.x; j < vocab; j += blockDim.x) sum += expf(x[j] - mx);
  sum = block_sum(sum, scratch);
  const float lse = mx + logf(sum);
  const float xt = x[t];
  if (threadIdx.x == 0) loss[row] = lse - xt;
  if (dx == nullptr) return;
  __syncthreads();  // every thread has read x[t] before anyone overwrites it
  for (std::int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
    const float g = expf(x[j] - lse) * grad_scale;
    dx[j] = j == t ? g - grad_scale : g;
  }
}

}  // namespace

void launch_cross_entropy(const float* logits, const std::int32_t* targets, std::int64_t rows, std::int64_t vocab,
                          float* loss, float* dlogits, float grad_scale, int* error_word, cudaStream_t stream) {
  if (rows <= 0) return;
  cross_entropy_kernel<<<static_cast<unsigned>(rows), kBlock, 0, stream>>>(logits, targets, vocab, loss, dlogits,
                                                                            grad_scale, error_word);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

}  // namespace personas::cuda
