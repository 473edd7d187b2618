// A tiny random Phi-3 for training tests (no checkpoint file needed).
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "model/weights.h"

namespace personas::testing {

inline ModelWeights tiny_phi3(std::uint64_t seed = 1, int vocab = 48, int hidden = 32, int layers = 2, int heads = 4,
                              int kv_heads = 2, int ffn = 64) {
  ModelWeights w;
  auto& c = w.config;
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.intermediate_size = ffn;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.max_position_embeddings = 256;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.pad_token_id = 0;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random = [&](std::vector<std::int64_t> shape, float stddev) {
    HostTensor t;
    t.shape = std::move(shape);
    t.data.resize(static_cast<std::size_t>(t.numel()));
    for (auto& x : t.data) x = stddev * normal(rng);
    return t;
  };
  auto ones = [](std::int64_t n) {
    HostTensor t;
    t.shape = {n};
    t.data.assign(static_cast<std::size_t>(n), 1.0f);
    return t;
  };
  const std::int64_t hd = hidden / heads, qkv = (heads + 2 * kv_heads) * hd;
  w.tensors["model.embed_tokens.weight"] = random({vocab, hidden}, 1.0f);
  for (int l = 0; l < layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    w.tensors[p + "input_layernorm.weight"] = ones(hidden);
    w.tensors[p + "post_attention_layernorm.weight"] = ones(hidden);
    w.tensors[p + "self_attn.qkv_proj.weight"] = random({qkv, hidden}, 1.0f / std::sqrt(static_cast<float>(hidden)));
    w.tensors[p + "self_attn.o_proj.weight"] = random({hidden, heads * hd}, 1.0f / std::sqrt(static_cast<float>(hidden)));
    w.tensors[p + "mlp.gate_up_proj.weight"] = random({2 * ffn, hidden}, 1.0f / std::sqrt(static_cast<float>(hidden)));
    w.tensors[p + "mlp.down_proj.weight"] = random({hidden, ffn}, 1.0f / std::sqrt(static_cast<float>(ffn)));
  }
  w.tensors["model.norm.weight"] = ones(hidden);
  // Wide logits: with the final norm and lm_head frozen, a 1/sqrt(hidden)
  // head caps the reachable margin between tokens (loss floor ~0.2).
  w.tensors["lm_head.weight"] = random({vocab, hidden}, 1.0f);
  return w;
}

}  // namespace personas::testing
