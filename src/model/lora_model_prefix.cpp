// Prefix-shared scoring: a prompt prefix (an agent's system turn: persona and
// profile) runs through the layers once per adapter, leaving its keys and
// values per layer (PrefixState); then every continuation (the item part) is
// scored in one batch whose queries attend to the prefix cache plus their own
// causal part (Backend::attention_prefix_forward), at positions continuing the
// prefix. Only the chosen rows of lm_head are projected at each suffix's last
// position, as in score().
#include "core/errors.h"
#include "model/lora_model_impl.h"

namespace personas {

PrefixState LoraModel::prefill(std::span<const std::int32_t> prefix, int adapter) {
  Impl& m = *impl_;
  PERSONAS_CHECK(!prefix.empty(), internal, "prefill: the prefix has no tokens");
  PERSONAS_CHECK(adapter >= -1 && adapter < n_adapters(), internal, "prefill: adapter {} of {}", adapter, n_adapters());
  PERSONAS_CHECK(static_cast<std::int64_t>(prefix.size()) < m.config.max_position_embeddings, data,
                 "prefill: a prefix of {} tokens leaves no position of the model's {} for a suffix", prefix.size(),
                 m.config.max_position_embeddings);
  for (auto id : prefix)
    PERSONAS_CHECK(id >= 0 && id < m.config.vocab_size, data, "prefill: token {} outside vocab [0, {})", id,
                   m.config.vocab_size);
  const ScopedFlag eval(m.training, false);
  PrefixState state;
  state.adapter = adapter;
  state.length = static_cast<std::int64_t>(prefix.size());
  std::vector<TensorView> kv, vv;
  for (std::int64_t l = 0; l < m.config.num_hidden_layers; ++l) {
    state.k.emplace_back(m.backend, state.length, m.kv_dim());
    state.v.emplace_back(m.backend, state.length, m.kv_dim());
    kv.push_back(state.k.back());
    vv.push_back(state.v.back());
  }
  SequenceSpan sequence;
  sequence.tokens = prefix;
  sequence.adapter = adapter;
  sequence.k_caches = kv;
  sequence.v_caches = vv;
  // The linear layers as score() runs them, so the continuations get score()'s numbers to rounding.
  m.forward_sequences(std::span<const SequenceSpan>(&sequence, 1), /*invariant=*/false);
  return state;
}

std::vector<float> LoraModel::score_suffixes(const PrefixState& state,
                                             std::span<const std::vector<std::int32_t>> suffixes,
                                             std::span<const std::int32_t> token_ids) {
  Impl& m = *impl_;
  const int n_layers = static_cast<int>(m.config.num_hidden_layers);
  PERSONAS_CHECK(static_cast<int>(state.k.size()) == n_layers && static_cast<int>(state.v.size()) == n_layers &&
                     state.length >= 1,
                 internal, "score_suffixes: the prefix state has {} layers of {} tokens (make it with prefill)",
                 state.k.size(), state.length);
  PERSONAS_CHECK(state.adapter >= -1 && state.adapter < n_adapters(), internal, "score_suffixes: adapter {} of {}",
                 state.adapter, n_adapters());
  for (auto id : token_ids)
    PERSONAS_CHECK(id >= 0 && id < m.config.vocab_size, data, "score_suffixes: token id {} outside vocab [0, {})",
                   id, m.config.vocab_size);
  for (std::size_t i = 0; i < suffixes.size(); ++i) {
    PERSONAS_CHECK(!suffixes[i].empty(), internal, "score_suffixes: suffix {} has no tokens", i);
    PERSONAS_CHECK(state.length + static_cast<std::int64_t>(suffixes[i].size()) <= m.config.max_position_embeddings,
                   data, "score_suffixes: prefix ({}) + suffix {} ({} tokens) exceeds the model's {} positions",
                   state.length, i, suffixes[i].size(), m.config.max_position_embeddings);
  }
  if (suffixes.empty() || token_ids.empty()) return std::vector<float>(suffixes.size() * token_ids.size());
  const ScopedFlag eval(m.training, false);
  TokenBatch batch = TokenBatch::from_sequences(suffixes, {}, 0);
  batch.adapters.assign(suffixes.size(), state.adapter);
  batch.validate(m.config.vocab_size, n_adapters());
  const std::int64_t n = static_cast<std::int64_t>(batch.batch) * batch.seq;
  std::vector<std::int32_t> pos(static_cast<std::size_t>(n)), last_rows;
  for (std::int64_t i = 0; i < n; ++i)
    pos[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(state.length + i % batch.seq);
  for (int b = 0; b < batch.batch; ++b) last_rows.push_back(b * batch.seq + batch.lengths[static_cast<std::size_t>(b)] - 1);
  DeviceBuffer ids = upload_i32(m.backend, batch.ids), positions = upload_i32(m.backend, pos),
               lengths = upload_i32(m.backend, batch.lengths);
  DeviceBuffer x(m.backend, n, m.config.hidden_size);
  m.backend.embedding_forward(ids, m.embed, x);
  LayerActs acts;
  acts.allocate(m.backend, m.config, m.spec, n, false);
  const auto segments = m.segments_for(batch);
  AttentionInputs attn;
  attn.positions = positions;
  attn.lengths = lengths;
  attn.shape = attention_shape_of(m.config, batch.batch, batch.seq);
  for (int l = 0; l < n_layers; ++l) {
    attn.k_prefix = state.k[static_cast<std::size_t>(l)];
    attn.v_prefix = state.v[static_cast<std::size_t>(l)];
    m.layer_forward(l, x, x, acts, attn, segments);
  }
  return m.chosen_logits(x, last_rows, token_ids);
}

}  // namespace personas
