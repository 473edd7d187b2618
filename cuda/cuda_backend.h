// CudaBackend: the Backend op set on one NVIDIA GPU (see docs/cuda.md).
//
// Dtype policy. The Backend interface and the model code pass fp32 views
// (activations, gradients, LoRA parameters and AdamW state), so every op
// takes and returns fp32 exactly like CpuBackend; the kernels compute in fp32.
// The GEMMs are where bf16 pays: matmul runs on the bf16 tensor cores with
// fp32 accumulation (CUBLAS_COMPUTE_32F_FAST_16BF: fp32 operands rounded to
// bf16 inside cuBLAS), and it also accepts bf16 operand views (frozen base
// weights stored in bf16) with an fp32 output; a mixed f32 x bf16 pair is
// converted to bf16 on the device first. CudaBackendOptions::bf16_gemm = false
// selects plain fp32 GEMMs (used by the tests to check the rest tightly).
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/caching_allocator.h"

struct cublasContext;

namespace personas {

struct CudaBackendOptions {
  bool bf16_gemm = true;  // false: fp32 GEMMs (CUBLAS_COMPUTE_32F)
  // The device memory pool (backend/caching_allocator.h); unbounded cache by
  // default: a failed cudaMalloc empties the cache and retries once.
  CachingAllocatorOptions allocator;
};

class CudaBackend final : public Backend {
 public:
  // Binds `device` (an index < cudaGetDeviceCount) to this backend, creates its
  // stream and cuBLAS handle. Throws personas::DeviceError when the device fails.
  explicit CudaBackend(int device, CudaBackendOptions options = {});
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return "cuda"; }
  DeviceKind device() const override { return DeviceKind::cuda; }
  bool supports(Op op, DType dtype) const override;

  void* allocate(std::size_t bytes) override;
  void release(void* pointer) override;
  MemoryStats memory_stats() const override;
  void empty_cache() override;
  void reset_peak_memory() override;
  void copy_to_device(void* dst, const void* host_src, std::size_t bytes) override;
  void copy_to_host(void* host_dst, const void* src, std::size_t bytes) override;
  void fill_zero(TensorView t) override;
  void synchronize() override;
  void copy_on_device(void* dst, const void* src, std::size_t bytes) override;

  void add(TensorView y, TensorView x, float alpha) override;
  void dropout(TensorView x, TensorView out, float p, std::uint64_t seed) override;
  void scale(TensorView x, float alpha) override;
  double sum_squares(TensorView x) override;
  bool supports_group_reduce() const override;
  std::vector<std::uint8_t> group_reducer_id() override;
  std::unique_ptr<DeviceGroupReducer> make_group_reducer(std::span<const std::uint8_t> id, int group_size,
                                                         int group_rank) override;

  void embedding_forward(TensorView ids, TensorView table, TensorView out) override;
  void embedding_backward(TensorView dout, TensorView ids, TensorView dtable) override;
  void rmsnorm_forward(TensorView x, TensorView weight, float eps, TensorView out, TensorView rstd) override;
  void rmsnorm_backward(TensorView dout, TensorView x, TensorView weight, TensorView rstd, TensorView dx,
                        bool accumulate) override;
  void matmul(TensorView a, bool transpose_a, TensorView b, bool transpose_b, TensorView c, float alpha,
              float beta) override;
  void rope(TensorView x, TensorView positions, int n_heads, int head_dim, int rotary_dim, float theta,
            bool inverse) override;
  void attention_forward(TensorView q, TensorView k, TensorView v, TensorView lengths, const AttentionShape& shape,
                         TensorView out, TensorView lse) override;
  void attention_backward(TensorView dout, TensorView q, TensorView k, TensorView v, TensorView out, TensorView lse,
                          TensorView lengths, const AttentionShape& shape, TensorView dq, TensorView dk,
                          TensorView dv) override;
  void attention_decode(TensorView q, TensorView k_cache, TensorView v_cache, int past, const AttentionShape& shape,
                        TensorView out) override;
  void attention_decode_rows(TensorView q, std::span<const TensorView> k_caches, std::span<const TensorView> v_caches,
                             std::span<const std::int32_t> pasts, const AttentionShape& shape, TensorView out) override;
  void attention_prefix_forward(TensorView q, TensorView k_prefix, TensorView v_prefix, TensorView k, TensorView v,
                                TensorView lengths, const AttentionShape& shape, TensorView out) override;
  void matmul_batch_invariant(TensorView x, TensorView w, TensorView y, float alpha, float beta) override;
  void swiglu_forward(TensorView gate_up, TensorView out) override;
  void swiglu_backward(TensorView dout, TensorView gate_up, TensorView dgate_up) override;
  void cross_entropy(TensorView logits, TensorView targets, TensorView loss, TensorView dlogits,
                     float grad_scale) override;
  void lora_shrink(TensorView x, std::span<const TensorView> a_weights, std::span<const LoraSegment> segments,
                   TensorView t) override;
  void lora_expand(TensorView t, std::span<const TensorView> b_weights, std::span<const LoraSegment> segments,
                   float scale, TensorView y) override;
  void lora_backward(TensorView dy, TensorView x, TensorView t, TensorView a, TensorView b, float scale,
                     TensorView da, TensorView db, TensorView dx) override;
  void adamw(TensorView param, TensorView grad, TensorView m, TensorView v, const AdamWParams& p) override;
  void kmeans_assign(TensorView points, TensorView centroids, TensorView labels, TensorView distances) override;

  // For NCCL and benchmarks.
  int device_index() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  std::string device_name() const { return device_name_; }

 private:
  enum Scratch {
    kScratchA, kScratchB, kScratchSegments, kScratchLoraDt, kScratchAttention, kScratchReduce, kScratchCount
  };
  void* scratch(Scratch slot, std::size_t bytes);
  void make_pool();
  // From the pool on our stream; DeviceError (out of memory, naming `what`) when it cannot.
  void* pool_allocate(std::size_t bytes, const char* what);
  void activate() const;        // cudaSetDevice(device_): ops may be called from any host thread
  void check_error_word();      // reports bad ids/targets flagged by kernels
  void gemm(const void* a, bool a_bf16, std::int64_t lda, bool transpose_a, const void* b, bool b_bf16,
            std::int64_t ldb, bool transpose_b, float* c, std::int64_t ldc, std::int64_t m, std::int64_t n,
            std::int64_t k, float alpha, float beta);

  int device_ = 0;
  CudaBackendOptions options_;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  int* error_word_ = nullptr;  // device int set by kernels (embedding.cuh bits)
  std::unique_ptr<CachingAllocator> pool_;
  std::array<void*, kScratchCount> scratch_{};
  std::array<std::size_t, kScratchCount> scratch_bytes_{};
};

}  // namespace personas
