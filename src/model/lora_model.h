// The frozen Phi-3 base plus LoRA adapters on a Backend: the API that
// training, evaluation and embedding use.
//
//   LoraModel model(weights, backend, spec, /*n_adapters=*/1);
//   model.adapter(0).initialize(seed);
//   auto r = model.forward_backward(batch);        // grads add into adapter(0).grads()
//   model.adapter(0).adamw_step(adamw);  model.adapter(0).zero_grads();
//   auto logits = model.score(batch, positions, digit_token_ids);
//   auto ids = model.generate(prompt_ids, options, /*adapter=*/0);
//   auto all = model.generate_batch(requests, {.max_batch = 16});   // continuous batching
//   auto state = model.prefill(prefix_ids, /*adapter=*/0);          // prefix-shared scoring
//   auto digits = model.score_suffixes(state, item_suffixes, digit_token_ids);
//
// Each adapter is a LoraArena (params, grads, AdamW m and v). Rows of one batch
// may use different adapters (TokenBatch::adapters): the LoRA ops run
// segment-wise, which is how evaluation mixes personas in one batch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "model/device_buffer.h"
#include "model/lora_arena.h"
#include "model/lora_spec.h"
#include "model/sampling.h"
#include "model/token_batch.h"
#include "model/weights.h"

namespace personas {

struct LossResult {
  double loss_sum = 0.0;         // sum of per-token cross-entropy over target tokens
  std::int64_t n_tokens = 0;     // number of target tokens
  std::vector<double> row_loss_sum;        // per batch row: the sum over its target tokens
  std::vector<std::int32_t> row_tokens;    // per batch row: its target tokens
  double mean() const { return n_tokens > 0 ? loss_sum / static_cast<double>(n_tokens) : 0.0; }
};

// A position whose next-token logits are wanted: row `row`, token index `position` (< lengths[row]).
struct ScorePosition {
  int row = 0;
  int position = 0;
};

struct GenerateOptions {
  int max_new_tokens = 128;
  SamplingOptions sampling;
  std::vector<std::int32_t> stop_tokens;  // generation ends after emitting one (it is included)
  // Called with each new token as it is chosen (streaming); return false to stop early.
  std::function<bool(std::int32_t)> on_token;
  // Called with the full next-token logits of each step before the choice (logprobs).
  std::function<void(std::span<const float>)> on_logits;
};

// The key/value cache a finished generation leaves (GenerateRequest::keep_cache):
// the tokens it holds (the prompt and every generated token but the last, which
// was chosen and never fed) and per layer their rotated keys and values in the
// first tokens.size() rows of buffers that may have more rows. Device memory:
// 2 x layers x rows x kv_dim floats.
struct GenerationCache {
  int adapter = -1;
  std::vector<std::int32_t> tokens;
  std::vector<DeviceBuffer> k, v;  // per layer [>= tokens.size(), kv_dim]
};

// One sequence of a batched generation (LoraModel::generate_batch).
struct GenerateRequest {
  std::vector<std::int32_t> prompt;
  int adapter = -1;  // -1 = the base model
  int max_new_tokens = 128;
  SamplingOptions sampling;               // its own seed: the same tokens whatever else is in the batch
  std::vector<std::int32_t> stop_tokens;  // ends after emitting one (it is included)
  // A cache of an earlier generation under the same adapter: the prompt's
  // longest common prefix with reuse->tokens (all but the prompt's last token
  // at most) is copied from it instead of prefilled. Every CPU step is
  // row-invariant, so the tokens and logits are the same bits as without it
  // (tested; the CUDA kernels are expected to agree to rounding, untested).
  std::shared_ptr<const GenerationCache> reuse;
  bool keep_cache = false;  // hand the cache to BatchGenerateOptions::on_cache when the request ends
};

// Prompt tokens whose cache rows a request copies from `cached` tokens
// (GenerateRequest::reuse): their longest common prefix, leaving the prompt's
// last token to prefill (its logits choose the first new token).
std::size_t reusable_prefix(std::span<const std::int32_t> cached, std::span<const std::int32_t> prompt);

struct BatchGenerateOptions {
  int max_batch = 8;  // sequence slots decoded together; a finished sequence's slot takes the next request
  // (request index, token) as each token is chosen; return false to end that sequence.
  std::function<bool(std::size_t, std::int32_t)> on_token;
  // (request index, full next-token logits) before each choice.
  std::function<void(std::size_t, std::span<const float>)> on_logits;
  // (request index, its tokens) when a request ends; requests appended to
  // `more` join the queue with the next indices (a follow-up that depends on
  // this answer, e.g. the next slot of a scaffold).
  std::function<void(std::size_t, const std::vector<std::int32_t>&, std::vector<GenerateRequest>& more)> on_finish;
  // false: the returned vectors stay empty and each request's tokens go to
  // on_finish only (long streams of follow-ups keep no history).
  bool keep_outputs = true;
  // (request index, its cache) for a request with keep_cache, just before its on_finish.
  std::function<void(std::size_t, GenerationCache&&)> on_cache;
};

// The KV cache of a prompt prefix under one adapter (LoraModel::prefill), for
// scoring many continuations of it (score_suffixes). Device memory:
// 2 x layers x length x kv_dim floats.
struct PrefixState {
  int adapter = -1;
  std::int64_t length = 0;
  std::vector<DeviceBuffer> k, v;  // per layer [length, kv_dim], rotated
};

class LoraModel {
 public:
  // Copies the base weights to the backend's device once: the matrices in
  // `base_dtype` (f32, or bf16 rounded to nearest even: model/base_dtype.h; the
  // backend must support bf16 matmul and embedding), the norm weights in f32.
  // The caller may free `weights` afterwards. n_adapters arenas (always f32)
  // are created zero-initialised (B = 0, so the model starts as the base);
  // call adapter(i).initialize(seed) before training.
  LoraModel(const ModelWeights& weights, Backend& backend, const LoraSpec& spec, int n_adapters = 1,
            DType base_dtype = DType::f32);
  ~LoraModel();
  LoraModel(const LoraModel&) = delete;
  LoraModel& operator=(const LoraModel&) = delete;

  const Phi3Config& config() const;
  const LoraSpec& spec() const;
  // The device dtype of the base's matrices, and the bytes the base asked of
  // the backend's pool (its tensors' sizes; the pool rounds each to its size class).
  DType base_dtype() const;
  std::size_t base_bytes() const;
  Backend& backend();
  int n_adapters() const;
  LoraArena& adapter(int index);

  // Training mode turns LoRA dropout on (masks from spec.seed, the step counter and the layer).
  void set_training(bool training);
  void set_step(std::int64_t step);

  // Forward + backward of one batch. Gradients of loss_scale * sum(token losses)
  // are ADDED into each used adapter's grads (so micro-batches accumulate);
  // loss_scale <= 0 means 1 / n_tokens of this batch (the mean, like
  // transformers' loss). The base stays frozen; only A and B get gradients.
  LossResult forward_backward(const TokenBatch& batch, float loss_scale = 0.0f);
  // Forward only: the loss over the batch's targets.
  LossResult loss(const TokenBatch& batch);

  // Next-token logits at chosen positions for chosen token ids only (e.g. the
  // rating digits "1".."5"): returns [positions.size() x token_ids.size()]
  // row-major. Projects only the chosen rows of the final hidden states on the
  // chosen rows of lm_head.
  std::vector<float> score(const TokenBatch& batch, std::span<const ScorePosition> positions,
                           std::span<const std::int32_t> token_ids);
  // Full-vocabulary logits at chosen positions: [positions.size() x vocab].
  std::vector<float> logits(const TokenBatch& batch, std::span<const ScorePosition> positions);
  // Final-norm hidden states at chosen positions: [positions.size() x hidden] (embeddings).
  std::vector<float> hidden_states(const TokenBatch& batch, std::span<const ScorePosition> positions);

  // KV-cache generation for one prompt; returns only the new tokens.
  // adapter = -1 runs the base model.
  std::vector<std::int32_t> generate(std::span<const std::int32_t> prompt, const GenerateOptions& options,
                                     int adapter = 0);

  // Batched KV-cache generation (continuous batching over options.max_batch
  // slots): returns each request's new tokens, requests appended by on_finish
  // included. Each prompt is prefilled on its own; decode steps run every
  // active slot as one batch through batch-invariant matmuls and
  // attention_decode_rows, so a request's tokens do not depend on the batch
  // (slot count, neighbours, order) and equal generate()'s.
  std::vector<std::vector<std::int32_t>> generate_batch(std::vector<GenerateRequest> requests,
                                                        const BatchGenerateOptions& options);

  // Prefix-shared scoring: the KV cache of `prefix` under `adapter` (-1 = base),
  // then the next-token logits for chosen token ids at the last position of
  // each suffix, the suffix continuing the prefix (positions from
  // state.length) under the state's adapter: [suffixes.size() x
  // token_ids.size()] row-major, the numbers score() gives for prefix + suffix
  // whole (to rounding).
  PrefixState prefill(std::span<const std::int32_t> prefix, int adapter);
  std::vector<float> score_suffixes(const PrefixState& state, std::span<const std::vector<std::int32_t>> suffixes,
                                    std::span<const std::int32_t> token_ids);

  // The base weights with adapter `index` merged in (W + scale * B A) for tests
  // and export; host memory.
  ModelWeights merged_weights(int index) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace personas
