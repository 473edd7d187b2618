// The reference backend: host memory, fp32, OpenBLAS sgemm for matmuls and
// OpenMP loops for the rest. Every other backend is checked against it.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "backend/caching_allocator.h"

namespace personas {

// Host memory comes from a caching allocator too (64-byte aligned blocks), so
// that per-op buffers cost no malloc/free and memory_stats() reports the same
// figures as on the GPU. Its cache is bounded (2 GiB by default): the host has
// no out-of-memory signal to empty it on.
CachingAllocatorOptions cpu_allocator_defaults();

class CpuBackend : public Backend {  // not final: tests derive fault-injecting backends
 public:
  CpuBackend();
  explicit CpuBackend(CachingAllocatorOptions allocator);
  ~CpuBackend() override;
  std::string name() const override { return "cpu"; }
  DeviceKind device() const override { return DeviceKind::cpu; }
  bool supports(Op op, DType dtype) const override;

  void* allocate(std::size_t bytes) override;
  void release(void* pointer) override;
  MemoryStats memory_stats() const override { return pool_->stats(); }
  void empty_cache() override { pool_->empty_cache(); }
  void reset_peak_memory() override { pool_->reset_peak(); }
  void copy_to_device(void* dst, const void* host_src, std::size_t bytes) override;
  void copy_to_host(void* host_dst, const void* src, std::size_t bytes) override;
  void fill_zero(TensorView t) override;
  void synchronize() override {}
  void copy_on_device(void* dst, const void* src, std::size_t bytes) override;

  void add(TensorView y, TensorView x, float alpha) override;
  void dropout(TensorView x, TensorView out, float p, std::uint64_t seed) override;
  void scale(TensorView x, float alpha) override;
  double sum_squares(TensorView x) override;

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

 private:
  std::unique_ptr<CachingAllocator> pool_;
};

// The dropout keep-mask shared by every backend: element i of a call with
// `seed` is kept when dropout_uniform(seed, i) >= p.
float dropout_uniform(std::uint64_t seed, std::uint64_t index);

}  // namespace personas
