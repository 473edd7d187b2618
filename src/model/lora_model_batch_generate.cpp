// Batched KV-cache generation with continuous batching: options.max_batch
// slots, each holding one sequence's per-layer key/value cache (sized for its
// prompt + max new tokens). A request entering a slot is prefilled on its own
// (its prompt as one [len, hidden] pass); then every decode step runs the
// newest token of all active slots as one batch: each weight is read once for
// all rows (matmul_batch_invariant), LoRA per segment of rows with the same
// adapter, attention per row against its own cache (attention_decode_rows).
// A finished sequence's slot takes the next queued request.
//
// Why the prefill is not batched across requests: matmul over more rows
// changes the bits of every row (BLAS and cuBLAS choose kernels and K splits
// by shape), and the promise here is that a request's tokens do not depend on
// what else is in the batch. A prompt of L tokens is already an L-row gemm.
#include <algorithm>
#include <deque>
#include <memory>

#include "core/errors.h"
#include "model/lora_model_impl.h"

namespace personas {

namespace {

struct Slot {
  bool active = false;
  std::size_t request = 0;
  int past = 0;             // tokens in the cache; the next one sits at this position
  std::int32_t last = 0;    // the token to feed next
  std::vector<DeviceBuffer> k, v;
  std::vector<TensorView> k_views, v_views;
  std::unique_ptr<Sampler> sampler;
};

void check_request(const GenerateRequest& r, const Phi3Config& c, int n_adapters) {
  PERSONAS_CHECK(!r.prompt.empty(), usage, "generate: the prompt has no tokens (start it with the BOS token)");
  PERSONAS_CHECK(r.max_new_tokens >= 0, usage, "generate: max tokens {} must be >= 0", r.max_new_tokens);
  PERSONAS_CHECK(r.adapter >= -1 && r.adapter < n_adapters, usage, "generate: adapter {} of {}", r.adapter, n_adapters);
  for (auto id : r.prompt)
    PERSONAS_CHECK(id >= 0 && id < c.vocab_size, usage, "generate: prompt token {} outside vocab [0, {})", id,
                   c.vocab_size);
  const std::int64_t capacity = static_cast<std::int64_t>(r.prompt.size()) + r.max_new_tokens;
  PERSONAS_CHECK_HINT(capacity <= c.max_position_embeddings, usage, "use a shorter prompt or fewer tokens",
                      "generate: prompt ({} tokens) + max tokens ({}) exceeds the model's {} positions",
                      r.prompt.size(), r.max_new_tokens, c.max_position_embeddings);
}

}  // namespace

std::vector<std::vector<std::int32_t>> LoraModel::generate_batch(std::vector<GenerateRequest> requests,
                                                                 const BatchGenerateOptions& options) {
  Impl& m = *impl_;
  PERSONAS_CHECK(options.max_batch >= 1, usage, "generate: max batch {} must be >= 1", options.max_batch);
  for (const auto& r : requests) check_request(r, m.config, n_adapters());
  const ScopedFlag eval(m.training, false);
  const int n_layers = static_cast<int>(m.config.num_hidden_layers);
  const std::int64_t vocab = m.config.vocab_size;
  std::vector<std::vector<std::int32_t>> out(requests.size());
  std::deque<std::size_t> queue;
  for (std::size_t i = 0; i < requests.size(); ++i) queue.push_back(i);
  std::vector<Slot> slots(static_cast<std::size_t>(options.max_batch));

  auto finish = [&](Slot& slot) {
    slot.active = false;
    slot.k.clear();
    slot.v.clear();
    slot.sampler.reset();
    if (!options.on_finish) return;
    std::vector<GenerateRequest> more;
    options.on_finish(slot.request, out[slot.request], more);
    if (!options.keep_outputs) std::vector<std::int32_t>().swap(out[slot.request]);
    for (auto& r : more) {
      check_request(r, m.config, n_adapters());
      queue.push_back(requests.size());
      requests.push_back(std::move(r));
      out.emplace_back();
    }
  };
  // The chosen token of a slot from its logits; ends the sequence where it must.
  auto choose = [&](Slot& slot, std::span<const float> logits) {
    const std::size_t r = slot.request;
    if (options.on_logits) options.on_logits(r, logits);
    const std::int32_t next = slot.sampler->next(logits);
    out[r].push_back(next);
    const auto& request = requests[r];
    const bool go = !options.on_token || options.on_token(r, next);
    const bool stop = std::find(request.stop_tokens.begin(), request.stop_tokens.end(), next) != request.stop_tokens.end();
    if (!go || stop || static_cast<int>(out[r].size()) >= request.max_new_tokens) {
      finish(slot);
      return;
    }
    slot.last = next;
  };
  std::vector<float> logits;
  auto admit = [&](Slot& slot, std::size_t r) {
    slot.active = true;
    slot.request = r;
    const GenerateRequest& request = requests[r];
    if (request.max_new_tokens == 0) {
      finish(slot);
      return;
    }
    slot.sampler = std::make_unique<Sampler>(request.sampling);
    const std::int64_t capacity = static_cast<std::int64_t>(request.prompt.size()) + request.max_new_tokens;
    slot.k_views.clear();
    slot.v_views.clear();
    for (int l = 0; l < n_layers; ++l) {
      slot.k.emplace_back(m.backend, capacity, m.kv_dim());
      slot.v.emplace_back(m.backend, capacity, m.kv_dim());
      slot.k_views.push_back(slot.k.back());
      slot.v_views.push_back(slot.v.back());
    }
    const auto n = static_cast<std::int32_t>(request.prompt.size());
    DeviceBuffer x = m.prefill_into(request.prompt, request.adapter, slot.k_views, slot.v_views, 0);
    DeviceBuffer xsn = m.gather_normed(x, {n - 1});
    DeviceBuffer head(m.backend, 1, vocab);
    m.backend.matmul(xsn, false, m.lm_head, true, head, 1.0f, 0.0f);
    logits.resize(static_cast<std::size_t>(vocab));
    m.backend.copy_to_host(logits.data(), head.view().data, logits.size() * sizeof(float));
    slot.past = n;
    std::vector<std::int32_t>().swap(requests[r].prompt);  // in the cache now
    choose(slot, logits);
  };

  std::vector<Slot*> active;
  std::vector<std::int32_t> tokens, pasts;
  std::vector<std::vector<TensorView>> layer_k(static_cast<std::size_t>(n_layers)),
      layer_v(static_cast<std::size_t>(n_layers));
  for (;;) {
    for (auto& slot : slots)
      while (!slot.active && !queue.empty()) {
        const std::size_t r = queue.front();
        queue.pop_front();
        admit(slot, r);
      }
    active.clear();
    for (auto& slot : slots)
      if (slot.active) active.push_back(&slot);
    if (active.empty()) break;  // every slot is free, so the queue is empty too

    // One decode step over the active slots, row i = active[i].
    const auto n = static_cast<std::int64_t>(active.size());
    tokens.clear();
    pasts.clear();
    std::vector<LoraSegment> segments;
    for (std::int64_t i = 0; i < n; ++i) {
      const Slot& s = *active[static_cast<std::size_t>(i)];
      tokens.push_back(s.last);
      pasts.push_back(s.past);
      const int a = requests[s.request].adapter;
      if (a < 0) continue;
      if (!segments.empty() && segments.back().adapter == a && segments.back().row_end == i) ++segments.back().row_end;
      else segments.push_back(LoraSegment{i, i + 1, a});
    }
    for (int l = 0; l < n_layers; ++l) {
      auto& kl = layer_k[static_cast<std::size_t>(l)];
      auto& vl = layer_v[static_cast<std::size_t>(l)];
      kl.clear();
      vl.clear();
      for (const Slot* s : active) {
        kl.push_back(s->k_views[static_cast<std::size_t>(l)]);
        vl.push_back(s->v_views[static_cast<std::size_t>(l)]);
      }
    }
    DeviceBuffer ids = upload_i32(m.backend, tokens), positions = upload_i32(m.backend, pasts);
    DeviceBuffer x(m.backend, n, m.config.hidden_size);
    m.backend.embedding_forward(ids, m.embed, x);
    LayerActs acts;
    acts.allocate(m.backend, m.config, m.spec, n, false);
    AttentionInputs attn;
    attn.positions = positions;
    attn.shape = attention_shape_of(m.config, static_cast<int>(n), 1);
    attn.row_pasts = pasts;
    {
      const ScopedFlag invariant(m.batch_invariant, true);
      for (int l = 0; l < n_layers; ++l) {
        attn.row_k_caches = layer_k[static_cast<std::size_t>(l)];
        attn.row_v_caches = layer_v[static_cast<std::size_t>(l)];
        m.layer_forward(l, x, x, acts, attn, segments);
      }
      DeviceBuffer xsn(m.backend, n, m.config.hidden_size), rstd(m.backend, n, 1);
      m.backend.rmsnorm_forward(x, m.final_norm, m.eps(), xsn, rstd);
      DeviceBuffer head(m.backend, n, vocab);
      m.backend.matmul_batch_invariant(xsn, m.lm_head, head, 1.0f, 0.0f);
      logits.resize(static_cast<std::size_t>(n * vocab));
      m.backend.copy_to_host(logits.data(), head.view().data, logits.size() * sizeof(float));
    }
    for (std::int64_t i = 0; i < n; ++i) {
      Slot& s = *active[static_cast<std::size_t>(i)];
      s.past += 1;
      choose(s, std::span<const float>(logits).subspan(static_cast<std::size_t>(i * vocab), static_cast<std::size_t>(vocab)));
    }
  }
  return out;
}

}  // namespace personas
