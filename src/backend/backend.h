// The Backend seam (DESIGN.md): the device and a fixed op set, each with the
// backward that training needs. CpuBackend (OpenBLAS + OpenMP, fp32) is the
// oracle; CudaBackend (cuda/, bf16 storage, fp32 accumulate) must match it.
//
// Conventions for every op:
//  * Matrices are row-major 2-D views; a batch of token vectors is [n_rows, width]
//    with rows = batch * seq (row b*seq + t).
//  * Weights use the Hugging Face layout W[out][in], so y = x W^T.
//  * Pointers in a TensorView live on the backend's device.
//  * "accumulate" arguments add into the output (beta = 1) instead of overwriting.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/memory_stats.h"
#include "core/backend_kind.h"

namespace personas {

enum class DType { f32, bf16, i32 };
enum class DeviceKind { cpu, cuda };
const char* dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::f32;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t numel() const { return rows * cols; }
  float* f32() const { return static_cast<float*>(data); }
  std::int32_t* i32() const { return static_cast<std::int32_t*>(data); }
};

// Ops, for supports() queries and error messages.
enum class Op {
  embedding, rmsnorm, matmul, rope, attention, swiglu, cross_entropy, lora, adamw, kmeans_assign,
  elementwise, dropout, attention_decode, reduce
};
const char* op_name(Op op);

// Shape of a causal self-attention call over a right-padded batch.
struct AttentionShape {
  int batch = 1;
  int seq = 1;          // query positions per row (padded length)
  int n_heads = 1;      // query heads
  int n_kv_heads = 1;   // key/value heads (grouped-query attention: n_heads % n_kv_heads == 0)
  int head_dim = 1;
  int sliding_window = 0;  // 0 = none; else key j visible to query i only if i - j < window
};

// One adapter's rows in a mixed batch: rows [row_begin, row_end) use adapter `adapter`.
struct LoraSegment {
  std::int64_t row_begin = 0;
  std::int64_t row_end = 0;
  int adapter = 0;
};

struct AdamWParams {
  float lr = 3e-4f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  std::int64_t step = 1;  // 1-based, for bias correction
};

// Sums f32 device buffers over a fixed group of ranks without a host copy
// (NCCL on CUDA). Made by Backend::make_group_reducer; every call is
// collective over the group.
class DeviceGroupReducer {
 public:
  virtual ~DeviceGroupReducer() = default;
  // In place; ordered after the backend's earlier work and before its later work.
  virtual void allreduce_sum(TensorView data) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual DeviceKind device() const = 0;
  virtual bool supports(Op op, DType dtype) const = 0;

  // ---- memory ------------------------------------------------------------
  // Both backends serve these from a caching allocator (backend/caching_allocator.h):
  // a release keeps the block for the next allocation of its size class.
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void release(void* pointer) = 0;
  // The pool's accounting: bytes in use, peak, cached, raw allocations.
  virtual MemoryStats memory_stats() const = 0;
  // Returns cached blocks to the device (blocks in use stay).
  virtual void empty_cache() = 0;
  // The peaks of memory_stats() restart from the current values.
  virtual void reset_peak_memory() = 0;
  virtual void copy_to_device(void* dst, const void* host_src, std::size_t bytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, std::size_t bytes) = 0;
  virtual void fill_zero(TensorView t) = 0;
  virtual void synchronize() = 0;
  // Device-to-device copy of `bytes`.
  virtual void copy_on_device(void* dst, const void* src, std::size_t bytes) = 0;

  // ---- elementwise (f32, equal shapes) -----------------------------------
  // y += alpha * x   (residual adds, gradient accumulation)
  virtual void add(TensorView y, TensorView x, float alpha) = 0;
  // Inverted dropout with a counter-based mask so that the backward (and
  // the CUDA backend) regenerate the same mask from (seed, element index):
  // keep element i when hash(seed, i) >= p; out = keep ? x / (1 - p) : 0.
  // The backward of dropout is the same call on the gradient. out may alias x.
  virtual void dropout(TensorView x, TensorView out, float p, std::uint64_t seed) = 0;

  // x *= alpha (gradient clipping)
  virtual void scale(TensorView x, float alpha) = 0;
  // sum of x[i]^2 in double (a gradient norm), returned to the host: waits for
  // the work queued before it. The CPU sums in index order (the reference).
  virtual double sum_squares(TensorView x) = 0;

  // ---- device-side reduction within a group of ranks (optional) ----------
  // Whether make_group_reducer works in this process (CUDA built with NCCL).
  virtual bool supports_group_reduce() const { return false; }
  // On the group's first rank: the opaque id that the caller broadcasts to the
  // group over its Comm; then every rank of the group calls
  // make_group_reducer(id, group_size, group_rank) (collective).
  virtual std::vector<std::uint8_t> group_reducer_id();
  virtual std::unique_ptr<DeviceGroupReducer> make_group_reducer(std::span<const std::uint8_t> id, int group_size,
                                                                 int group_rank);

  // ---- ops ---------------------------------------------------------------
  // out[i] = table[ids[i]]   (ids: i32 [n,1]; table [vocab, hidden])
  virtual void embedding_forward(TensorView ids, TensorView table, TensorView out) = 0;
  // dtable[ids[i]] += dout[i] (always accumulates; ids < 0 are skipped). Also
  // the scatter that undoes a row gather done with embedding_forward.
  virtual void embedding_backward(TensorView dout, TensorView ids, TensorView dtable) = 0;

  // out = x * rstd * weight with rstd = 1/sqrt(mean(x^2) + eps); saves rstd [n,1].
  virtual void rmsnorm_forward(TensorView x, TensorView weight, float eps, TensorView out, TensorView rstd) = 0;
  // dx (accumulate when `accumulate`) from dout; the weight is frozen (no dweight).
  virtual void rmsnorm_backward(TensorView dout, TensorView x, TensorView weight, TensorView rstd, TensorView dx,
                                bool accumulate) = 0;

  // c = alpha * op(a) op(b) + beta * c, op = transpose when the flag is set.
  virtual void matmul(TensorView a, bool transpose_a, TensorView b, bool transpose_b, TensorView c, float alpha,
                      float beta) = 0;

  // Rotary embedding in place, Hugging Face half-split layout: within each head,
  // element j pairs with j + rotary_dim/2. x: [n, n_heads*head_dim]; positions: i32 [n,1].
  // inverse = true rotates by the negative angle (the backward of the forward).
  virtual void rope(TensorView x, TensorView positions, int n_heads, int head_dim, int rotary_dim, float theta,
                    bool inverse) = 0;

  // Causal attention with GQA over a right-padded batch: q [b*seq, n_heads*hd],
  // k, v [b*seq, n_kv_heads*hd], lengths: i32 [batch,1] valid tokens per row
  // (padding rows of out are zero). Saves the log-sum-exp per (row, head): lse [b*seq, n_heads].
  // Scale 1/sqrt(head_dim). The backward overwrites dq, dk, dv (padding rows get zero).
  virtual void attention_forward(TensorView q, TensorView k, TensorView v, TensorView lengths,
                                 const AttentionShape& shape, TensorView out, TensorView lse) = 0;
  virtual void attention_backward(TensorView dout, TensorView q, TensorView k, TensorView v, TensorView out,
                                  TensorView lse, TensorView lengths, const AttentionShape& shape, TensorView dq,
                                  TensorView dk, TensorView dv) = 0;

  // Attention of n_new query rows of ONE sequence over its KV cache (generation):
  // q [n_new, n_heads*hd] sits at positions past .. past+n_new-1; k_cache, v_cache
  // [capacity, n_kv_heads*hd] hold rows 0 .. past+n_new-1 (already rotated).
  // Causal: query i sees keys 0 .. past+i. shape.batch = 1, shape.seq = n_new.
  virtual void attention_decode(TensorView q, TensorView k_cache, TensorView v_cache, int past,
                                const AttentionShape& shape, TensorView out) = 0;

  // Decode attention for rows of different sequences (batched generation): row r
  // of q [n, n_heads*hd] is the newest token, at position pasts[r], of a sequence
  // whose rotated keys and values are k_caches[r], v_caches[r] ([> pasts[r],
  // n_kv_heads*hd], its own at row pasts[r]); it sees keys 0 .. pasts[r].
  // shape.batch = n, shape.seq = 1. Row r gets exactly the bits that
  // attention_decode gives that row alone (q row r, past = pasts[r], seq 1).
  virtual void attention_decode_rows(TensorView q, std::span<const TensorView> k_caches,
                                     std::span<const TensorView> v_caches, std::span<const std::int32_t> pasts,
                                     const AttentionShape& shape, TensorView out) = 0;

  // Attention of right-padded suffixes over one shared prefix (prefix-shared
  // scoring): q [b*seq, n_heads*hd] and k, v [b*seq, n_kv_heads*hd] are the
  // suffix rows (lengths: i32 [b,1]) at positions n_prefix + t; k_prefix,
  // v_prefix [n_prefix, n_kv_heads*hd] the prefix's rotated keys and values
  // (positions 0 .. n_prefix-1, shared by every row). Query t of row b sees
  // every prefix key and keys 0 .. t of its own suffix (the sliding window on
  // absolute positions). Padding rows of out are zero.
  virtual void attention_prefix_forward(TensorView q, TensorView k_prefix, TensorView v_prefix, TensorView k,
                                        TensorView v, TensorView lengths, const AttentionShape& shape,
                                        TensorView out) = 0;

  // y = alpha x W^T + beta y (beta 0: y is not read); x [m,k], w [n,k] (the
  // Hugging Face layout), y [m,n]. Batch-invariant: row i of y gets the same
  // bits for any m and any place of the row among them (matmul does not promise
  // that: BLAS and cuBLAS pick kernels and K splits by shape), so a sequence
  // decoded in a batch gets exactly the tokens it gets alone.
  virtual void matmul_batch_invariant(TensorView x, TensorView w, TensorView y, float alpha, float beta) = 0;

  // Phi-3's fused MLP activation: gate_up [n, 2f] = [gate | up]; out [n, f] = silu(gate) * up.
  virtual void swiglu_forward(TensorView gate_up, TensorView out) = 0;
  virtual void swiglu_backward(TensorView dout, TensorView gate_up, TensorView dgate_up) = 0;

  // Softmax cross-entropy for selected rows: logits [n, vocab], targets i32 [n,1]
  // (-1 = ignored row). Writes per-row loss [n,1] and, when dlogits.data is set,
  // dlogits = (softmax - onehot) * grad_scale (zero for ignored rows).
  // dlogits may alias logits (in place, which saves a [n, vocab] buffer).
  virtual void cross_entropy(TensorView logits, TensorView targets, TensorView loss, TensorView dlogits,
                             float grad_scale) = 0;

  // LoRA, segment-wise (punica-style): for each segment s, rows r in it use
  // adapter a = s.adapter with A = a_weights[a] [rank, in], B = b_weights[a] [out, rank]:
  //   shrink: t[r] = x[r] A^T          (t: [n, rank])
  //   expand: y[r] += scale * t[r] B^T (y: [n, out], always accumulates)
  virtual void lora_shrink(TensorView x, std::span<const TensorView> a_weights, std::span<const LoraSegment> segments,
                           TensorView t) = 0;
  virtual void lora_expand(TensorView t, std::span<const TensorView> b_weights, std::span<const LoraSegment> segments,
                           float scale, TensorView y) = 0;
  // Single-adapter backward: given dy [n,out], x [n,in], t = x A^T [n,rank]:
  //   dB += scale * dy^T t;  dt = scale * dy B;  dA += dt^T x;  dx += dt A (when dx.data)
  virtual void lora_backward(TensorView dy, TensorView x, TensorView t, TensorView a, TensorView b, float scale,
                             TensorView da, TensorView db, TensorView dx) = 0;

  // AdamW (decoupled weight decay) over flat fp32 arrays of equal size.
  virtual void adamw(TensorView param, TensorView grad, TensorView m, TensorView v, const AdamWParams& p) = 0;

  // k-means assignment: labels[i] = argmin_c ||x_i - c||^2 (ties: lowest c),
  // distances[i] = that squared distance. points [n, d], centroids [k, d] (f32),
  // labels i32 [n,1], distances f32 [n,1].
  virtual void kmeans_assign(TensorView points, TensorView centroids, TensorView labels, TensorView distances) = 0;
};

// automatic = CUDA when compiled in and a device answers, else CPU; the
// choice and any reason for falling back are logged. cuda without a GPU is
// ErrorKind::config. `device_index` picks the GPU (local rank % visible devices).
std::unique_ptr<Backend> make_backend(BackendKind kind, int device_index = 0);

// Registered by cuda/ when it is built (see cuda/cuda_backend_factory.cpp); nullptr otherwise.
// Returns nullptr and sets `reason` when no GPU answers.
using CudaBackendFactory = std::unique_ptr<Backend> (*)(int device_index, std::string& reason);
void register_cuda_backend_factory(CudaBackendFactory factory);

}  // namespace personas
