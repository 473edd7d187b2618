// KV-cache generation: the prompt goes through the layers once (prefill),
// filling each layer's key/value cache; then one token at a time attends to
// the cache (Backend::attention_decode). Only the last row is projected on
// the vocabulary.
#include <algorithm>

#include "core/errors.h"
#include "model/lora_model_impl.h"

namespace personas {

std::vector<std::int32_t> LoraModel::generate(std::span<const std::int32_t> prompt, const GenerateOptions& options,
                                              int adapter) {
  Impl& m = *impl_;
  PERSONAS_CHECK(!prompt.empty(), usage, "generate: the prompt has no tokens (start it with the BOS token)");
  PERSONAS_CHECK(options.max_new_tokens >= 0, usage, "generate: max tokens {} must be >= 0", options.max_new_tokens);
  PERSONAS_CHECK(adapter >= -1 && adapter < n_adapters(), usage, "generate: adapter {} of {}", adapter, n_adapters());
  for (auto id : prompt)
    PERSONAS_CHECK(id >= 0 && id < m.config.vocab_size, usage, "generate: prompt token {} outside vocab [0, {})", id,
                   m.config.vocab_size);
  const std::int64_t capacity = static_cast<std::int64_t>(prompt.size()) + options.max_new_tokens;
  PERSONAS_CHECK_HINT(capacity <= m.config.max_position_embeddings, usage, "use a shorter prompt or fewer tokens",
                      "generate: prompt ({} tokens) + max tokens ({}) exceeds the model's {} positions", prompt.size(),
                      options.max_new_tokens, m.config.max_position_embeddings);
  const bool was_training = m.training;
  m.training = false;
  const std::int64_t h = m.config.hidden_size;
  const int n_layers = static_cast<int>(m.config.num_hidden_layers);
  std::vector<DeviceBuffer> k_cache, v_cache;
  for (int l = 0; l < n_layers; ++l) {
    k_cache.emplace_back(m.backend, capacity, m.kv_dim());
    v_cache.emplace_back(m.backend, capacity, m.kv_dim());
  }
  Sampler sampler(options.sampling);
  std::vector<std::int32_t> generated;
  std::vector<std::int32_t> pending(prompt.begin(), prompt.end());
  int past = 0;
  std::vector<float> logits(static_cast<std::size_t>(m.config.vocab_size));
  while (static_cast<int>(generated.size()) < options.max_new_tokens) {
    const std::int64_t n_new = static_cast<std::int64_t>(pending.size());
    DeviceBuffer ids(m.backend, n_new, 1, DType::i32), positions(m.backend, n_new, 1, DType::i32);
    std::vector<std::int32_t> pos(pending.size());
    for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = past + static_cast<std::int32_t>(i);
    m.backend.copy_to_device(ids.view().data, pending.data(), pending.size() * 4);
    m.backend.copy_to_device(positions.view().data, pos.data(), pos.size() * 4);
    DeviceBuffer x(m.backend, n_new, h);
    m.backend.embedding_forward(ids, m.embed, x);
    LayerActs acts;
    acts.allocate(m.backend, m.config, m.spec, n_new, false);
    std::vector<LoraSegment> segments;
    if (adapter >= 0) segments.push_back(LoraSegment{0, n_new, adapter});
    AttentionInputs attn;
    attn.positions = positions;
    attn.shape.batch = 1;
    attn.shape.seq = static_cast<int>(n_new);
    attn.shape.n_heads = static_cast<int>(m.config.num_attention_heads);
    attn.shape.n_kv_heads = static_cast<int>(m.config.num_key_value_heads);
    attn.shape.head_dim = static_cast<int>(m.config.head_dim());
    attn.shape.sliding_window = static_cast<int>(m.config.sliding_window);
    attn.past = past;
    for (int l = 0; l < n_layers; ++l) {
      attn.k_cache = k_cache[static_cast<std::size_t>(l)];
      attn.v_cache = v_cache[static_cast<std::size_t>(l)];
      m.layer_forward(l, x, x, acts, attn, segments);
    }
    DeviceBuffer xsn = m.gather_normed(x, {static_cast<std::int32_t>(n_new - 1)});
    DeviceBuffer out(m.backend, 1, m.config.vocab_size);
    m.backend.matmul(xsn, false, m.lm_head, true, out, 1.0f, 0.0f);
    m.backend.copy_to_host(logits.data(), out.view().data, logits.size() * sizeof(float));
    if (options.on_logits) options.on_logits(logits);
    const std::int32_t next = sampler.next(logits);
    generated.push_back(next);
    past += static_cast<int>(n_new);
    pending.assign(1, next);
    if (options.on_token && !options.on_token(next)) break;
    if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) != options.stop_tokens.end()) break;
  }
  m.training = was_training;
  return generated;
}

}  // namespace personas
