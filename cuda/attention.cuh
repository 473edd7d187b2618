// Causal grouped-query attention launchers (kernels in attention.cu): tiled,
// flash-style (online softmax, scores never stored), right-padded batches,
// sliding window, and the KV-cache decode. fp32 in and out, fp32 math.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

// Head dimensions above this are rejected by CudaBackend (Phi-3-mini uses 96).
constexpr int kAttentionMaxHeadDim = 128;

struct AttentionDims {
  int batch = 1;
  int seq = 1;
  int n_heads = 1;
  int n_kv_heads = 1;
  int head_dim = 1;
  int sliding_window = 0;
};

// q [b*seq, H*hd], k/v [b*seq, KV*hd], lengths i32 [b]; out [b*seq, H*hd]
// (padding rows zero), lse [b*seq, H] (padding rows zero).
void launch_attention_forward(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                              const AttentionDims& dims, float* out, float* lse, cudaStream_t stream);

// Overwrites dq, dk, dv (padding rows zero). `scratch` holds b*seq*H floats
// (the per-row dot(dout, out) of the flash-attention backward).
void launch_attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* out,
                               const float* lse, const std::int32_t* lengths, const AttentionDims& dims, float* dq,
                               float* dk, float* dv, float* scratch, cudaStream_t stream);

// n_new query rows of one sequence at positions past..past+n_new-1 over the
// cache rows 0..past+n_new-1 (row stride kv_cols). dims.batch = 1, dims.seq = n_new.
void launch_attention_decode(const float* q, const float* k_cache, const float* v_cache, std::int64_t kv_cols,
                             int past, const AttentionDims& dims, float* out, cudaStream_t stream);

// Suffix rows over a shared prefix (Backend::attention_prefix_forward): q
// [b*seq, H*hd] right-padded (lengths i32 [b]); k, v [b*(n_prefix+seq), KV*hd]
// hold for each row b the prefix's keys then its own (the caller concatenates);
// query t of row b sits at position n_prefix + t. out: padding rows zero.
void launch_attention_prefix(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                             const AttentionDims& dims, int n_prefix, float* out, cudaStream_t stream);

}  // namespace personas::cuda
