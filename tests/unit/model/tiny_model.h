// A tiny random Phi-3 for the transformer and LoRA tests.
#pragma once

#include <random>
#include <string>

#include "core/errors.h"
#include "model/lora_model.h"
#include "model/weights.h"

namespace personas::testing {

inline Phi3Config tiny_config(bool tied = false) {
  Phi3Config c;
  c.vocab_size = 37;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 64;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.pad_token_id = 0;
  c.tie_word_embeddings = tied;
  return c;
}

inline ModelWeights tiny_weights(const Phi3Config& c, std::uint64_t seed = 7) {
  ModelWeights w;
  w.config = c;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.2f);
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, bool norm = false) {
    HostTensor t;
    t.shape = std::move(shape);
    t.data.resize(static_cast<std::size_t>(t.numel()));
    for (auto& v : t.data) v = norm ? 1.0f + 0.1f * dist(rng) : dist(rng);
    w.tensors[name] = std::move(t);
  };
  const std::int64_t h = c.hidden_size, f = c.intermediate_size, qkv = h + 2 * c.kv_dim();
  add("model.embed_tokens.weight", {c.vocab_size, h});
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {h}, true);
    add(p + "self_attn.qkv_proj.weight", {qkv, h});
    add(p + "self_attn.o_proj.weight", {h, h});
    add(p + "post_attention_layernorm.weight", {h}, true);
    add(p + "mlp.gate_up_proj.weight", {2 * f, h});
    add(p + "mlp.down_proj.weight", {h, f});
  }
  add("model.norm.weight", {h}, true);
  if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, h});
  return w;
}

// Initialises an adapter with random A and B (B nonzero so every gradient is).
inline void randomize_adapter(LoraArena& arena, std::uint64_t seed, float scale = 0.3f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> p(static_cast<std::size_t>(arena.n_params()));
  for (auto& v : p) v = dist(rng);
  arena.from_host(0, p);
}

inline TokenBatch tiny_batch(int answer_from = 3) {
  const std::vector<std::vector<std::int32_t>> seqs = {{1, 5, 9, 12, 30, 7, 2}, {1, 33, 4, 8, 2}, {1, 6, 6, 20, 11, 3}};
  const std::vector<int> answers(seqs.size(), answer_from);
  return TokenBatch::from_sequences(seqs, answers, 0);
}

}  // namespace personas::testing
