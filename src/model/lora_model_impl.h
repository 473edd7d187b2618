// Internals of LoraModel shared by its .cpp files (forward/backward,
// scoring, generation). Not a public header.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "model/device_buffer.h"
#include "model/lora_model.h"

namespace personas {

struct LayerWeights {
  TensorView ln1, q, k, v, o, ln2, gate_up, down;  // q, k, v: row slices of the fused qkv_proj
};

// Activations of one layer over n rows (what the backward needs).
struct LayerActs {
  DeviceBuffer x_in, xn1, rstd1, q, k, v, att, lse, x_mid, xn2, rstd2, gu, act;
  std::array<DeviceBuffer, kLoraTargetCount> lora_t;  // x A^T per target [n, rank]
  std::array<DeviceBuffer, kLoraTargetCount> lora_x;  // dropout(x) per target, when dropout is on
  void allocate(Backend& backend, const Phi3Config& c, const LoraSpec& spec, std::int64_t n, bool dropout);
};

// Where attention gets its keys: the batch itself (training, scoring) or a KV cache (generation).
struct AttentionInputs {
  TensorView positions;           // i32 [n,1]
  TensorView lengths;             // i32 [batch,1] (batch mode)
  AttentionShape shape;
  TensorView k_cache, v_cache;    // decode mode when k_cache.data is set
  int past = 0;
  // Batched generation (forward_sequences) when seq_rows is not empty: the rows
  // are several sequences one after another, seq_rows[s] new tokens of sequence
  // s at positions seq_pasts[s] ..., cached in seq_k_caches[s] / seq_v_caches[s]
  // (this layer's caches).
  std::span<const std::int32_t> seq_rows, seq_pasts;
  std::span<const TensorView> seq_k_caches, seq_v_caches;
  // Prefix-shared scoring when k_prefix.data is set: this layer's prefix keys/values.
  TensorView k_prefix, v_prefix;
};

// New tokens of one sequence for Impl::forward_sequences.
struct SequenceSpan {
  std::span<const std::int32_t> tokens;
  int adapter = -1;  // -1 = the base model
  int past = 0;      // tokens already in the caches; the new ones sit at positions past ..
  std::span<const TensorView> k_caches, v_caches;  // per layer, [>= past + tokens, kv_dim]
};

// i32 values on the device as [n, 1].
DeviceBuffer upload_i32(Backend& backend, std::span<const std::int32_t> values);
// The model's attention shape for `batch` rows of `seq` queries.
AttentionShape attention_shape_of(const Phi3Config& c, int batch, int seq);

// Sets a flag of the model for a scope and restores it on exit (exceptions
// included): training off for inference (no LoRA dropout in generation or
// prefix scoring), batch_invariant on for decode steps.
class ScopedFlag {
 public:
  ScopedFlag(bool& flag, bool value) : flag_(flag), saved_(flag) { flag_ = value; }
  ~ScopedFlag() { flag_ = saved_; }
  ScopedFlag(const ScopedFlag&) = delete;
  ScopedFlag& operator=(const ScopedFlag&) = delete;

 private:
  bool& flag_;
  bool saved_;
};

struct LoraModel::Impl {
  Impl(const ModelWeights& weights, Backend& backend, const LoraSpec& spec, int n_adapters, DType base_dtype);

  Backend& backend;
  Phi3Config config;
  LoraSpec spec;
  DType base_dtype = DType::f32;            // of the base's matrices (norm weights are f32)
  std::vector<std::unique_ptr<LoraArena>> adapters;
  std::vector<DeviceBuffer> owned;          // device copies of the base tensors
  std::vector<std::string> owned_names;     // their Hugging Face names
  TensorView embed, final_norm, lm_head;
  std::vector<LayerWeights> layers;
  bool training = false;
  std::int64_t step = 0;
  // Linear layers and LoRA through matmul_batch_invariant (batched decode steps).
  bool batch_invariant = false;

  std::int64_t q_dim() const { return config.head_dim() * config.num_attention_heads; }
  std::int64_t kv_dim() const { return config.kv_dim(); }
  int rotary_dim() const;
  float eps() const { return static_cast<float>(config.rms_norm_eps); }
  float theta() const { return static_cast<float>(config.rope_theta); }
  bool dropout_active() const { return training && spec.dropout > 0.0f; }
  std::uint64_t dropout_seed(int layer, LoraTarget target) const;

  // Segments of rows per adapter for a batch (rows of adapter -1 are left out).
  std::vector<LoraSegment> segments_for(const TokenBatch& batch) const;

  // y = x W^T + beta y: matmul, or matmul_batch_invariant in batch-invariant mode.
  void linear(TensorView x, TensorView w, TensorView y, float beta);
  void lora_forward(int layer, LoraTarget target, TensorView x, TensorView y, LayerActs& acts,
                    const std::vector<LoraSegment>& segments);
  void lora_backward(int layer, LoraTarget target, TensorView dy, TensorView x, LayerActs& acts,
                     const std::vector<LoraSegment>& segments, TensorView dx_accumulate);

  void layer_forward(int layer, TensorView x_in, TensorView x_out, LayerActs& acts, const AttentionInputs& attn,
                     const std::vector<LoraSegment>& segments);
  // dx: in = d loss / d x_out, out = d loss / d x_in (when need_input_grad).
  void layer_backward(int layer, TensorView x_in, LayerActs& acts, const AttentionInputs& attn,
                      const std::vector<LoraSegment>& segments, TensorView dx, bool need_input_grad);

  // Runs the batch through every layer; returns the final residual stream [n, hidden].
  // With `saved` (training without recompute) keeps every layer's activations there;
  // with `saved_inputs` (recompute) keeps only each layer's input.
  DeviceBuffer forward(const TokenBatch& batch, const AttentionInputs& attn, const std::vector<LoraSegment>& segments,
                       std::vector<LayerActs>* saved, std::vector<DeviceBuffer>* saved_inputs);
  // Loss over target rows (chunks of rows through final norm + lm_head); with dx_final set,
  // also the gradient of loss_scale * sum into it.
  LossResult head_loss(const TokenBatch& batch, TensorView x_final, float loss_scale, TensorView dx_final);
  // New tokens of several sequences (generation's prefill and decode steps,
  // prefill()) through every layer in one batch, each sequence's attention over
  // its own caches, which get the new keys and values. Returns the final
  // residual stream [sum of tokens, hidden]. With `invariant` the linear layers
  // go through matmul_batch_invariant, so a sequence's rows get the same bits
  // whatever the other sequences; without, through matmul (as score() does).
  DeviceBuffer forward_sequences(std::span<const SequenceSpan> sequences, bool invariant);
  // Final-norm hidden states of chosen flat rows.
  DeviceBuffer gather_normed(TensorView x_final, const std::vector<std::int32_t>& flat_rows);
  // Logits of chosen token ids (rows of lm_head) at chosen flat rows of the final residual stream.
  std::vector<float> chosen_logits(TensorView x_final, const std::vector<std::int32_t>& flat_rows,
                                   std::span<const std::int32_t> token_ids);
};

}  // namespace personas
