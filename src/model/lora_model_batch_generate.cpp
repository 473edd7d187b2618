// Batched KV-cache generation with continuous batching: options.max_batch
// slots, each holding one sequence's per-layer key/value cache (sized for its
// prompt + max new tokens). The requests entering free slots are prefilled
// together (their prompts' rows in one pass, up to kPrefillRows rows); then
// every decode step runs the newest token of all active slots as one batch.
// Both go through forward_sequences: each weight read once for all rows
// (matmul_batch_invariant), LoRA per segment of rows with the same adapter,
// attention per sequence against its own cache. A finished sequence's slot
// takes the next queued request.
//
// A request may start from the cache an earlier one left (reuse, keep_cache):
// the rows of their longest common token prefix are copied instead of
// prefilled, so a conversation that grows by a few tokens per request (a
// scaffold's values, the next turn of a chat) prefills only what is new.
//
// Every step is batch-invariant (a row's bits do not depend on the other rows:
// matmul_batch_invariant, row-wise norms and rope, per-sequence attention), so
// a request gets the same tokens whatever else is in the batch, the slot
// count or the order of the queue, and generate() is the one-request case.
#include <algorithm>
#include <deque>
#include <memory>

#include "core/errors.h"
#include "model/lora_model_impl.h"

namespace personas {

namespace {

// Prompt rows prefilled in one pass at most (activations scale with it); a
// longer prompt goes alone.
constexpr std::int64_t kPrefillRows = 4096;

struct Slot {
  bool active = false;
  std::size_t request = 0;
  int past = 0;           // tokens in the cache; the next one sits at this position
  std::vector<std::int32_t> prompt;  // keep_cache: the prompt, for the cache's tokens
  std::int32_t last = 0;  // the token to feed next
  std::vector<DeviceBuffer> k, v;
  std::vector<TensorView> k_views, v_views;
  std::unique_ptr<Sampler> sampler;
};

void check_request(const GenerateRequest& r, const Phi3Config& c, int n_adapters) {
  PERSONAS_CHECK(!r.prompt.empty(), internal, "generate: the prompt has no tokens (start it with the BOS token)");
  PERSONAS_CHECK(r.max_new_tokens >= 0, internal, "generate: max tokens {} must be >= 0", r.max_new_tokens);
  PERSONAS_CHECK(r.adapter >= -1 && r.adapter < n_adapters, internal, "generate: adapter {} of {}", r.adapter, n_adapters);
  for (auto id : r.prompt)
    PERSONAS_CHECK(id >= 0 && id < c.vocab_size, data, "generate: prompt token {} outside vocab [0, {})", id,
                   c.vocab_size);
  const std::int64_t capacity = static_cast<std::int64_t>(r.prompt.size()) + r.max_new_tokens;
  PERSONAS_CHECK_HINT(capacity <= c.max_position_embeddings, data, "use a shorter prompt or fewer tokens",
                      "generate: prompt ({} tokens) + max tokens ({}) exceeds the model's {} positions",
                      r.prompt.size(), r.max_new_tokens, c.max_position_embeddings);
  if (!r.reuse) return;
  PERSONAS_CHECK(r.reuse->adapter == r.adapter, internal, "generate: a cache of adapter {} reused under adapter {}",
                 r.reuse->adapter, r.adapter);
  PERSONAS_CHECK(static_cast<std::int64_t>(r.reuse->k.size()) == c.num_hidden_layers &&
                     r.reuse->v.size() == r.reuse->k.size(),
                 internal, "generate: a reused cache of {} layers for a model of {}", r.reuse->k.size(),
                 c.num_hidden_layers);
  for (const auto& k : r.reuse->k)
    PERSONAS_ASSERT(k.view().rows >= static_cast<std::int64_t>(r.reuse->tokens.size()),
                    "generate: a cache of {} rows for {} tokens", k.view().rows, r.reuse->tokens.size());
}

std::int64_t reusable_rows(const GenerateRequest& r) {
  return r.reuse ? static_cast<std::int64_t>(reusable_prefix(r.reuse->tokens, r.prompt)) : 0;
}

}  // namespace

std::size_t reusable_prefix(std::span<const std::int32_t> cached, std::span<const std::int32_t> prompt) {
  if (prompt.empty()) return 0;
  const std::size_t limit = std::min(cached.size(), prompt.size() - 1);
  return static_cast<std::size_t>(std::mismatch(cached.begin(), cached.begin() + static_cast<std::ptrdiff_t>(limit),
                                                prompt.begin())
                                      .first -
                                  cached.begin());
}

DeviceBuffer LoraModel::Impl::forward_sequences(std::span<const SequenceSpan> sequences, bool invariant) {
  const ScopedFlag mode(batch_invariant, invariant);
  const int n_layers = static_cast<int>(config.num_hidden_layers);
  std::vector<std::int32_t> ids, positions, rows, pasts;
  std::vector<LoraSegment> segments;
  for (const auto& s : sequences) {
    const auto begin = static_cast<std::int64_t>(ids.size()), n = static_cast<std::int64_t>(s.tokens.size());
    ids.insert(ids.end(), s.tokens.begin(), s.tokens.end());
    for (std::int64_t t = 0; t < n; ++t) positions.push_back(s.past + static_cast<std::int32_t>(t));
    rows.push_back(static_cast<std::int32_t>(n));
    pasts.push_back(s.past);
    if (s.adapter < 0) continue;
    if (!segments.empty() && segments.back().adapter == s.adapter && segments.back().row_end == begin)
      segments.back().row_end = begin + n;
    else
      segments.push_back(LoraSegment{begin, begin + n, s.adapter});
  }
  const auto n = static_cast<std::int64_t>(ids.size());
  DeviceBuffer d_ids = upload_i32(backend, ids), d_positions = upload_i32(backend, positions);
  DeviceBuffer x(backend, n, config.hidden_size);
  backend.embedding_forward(d_ids, embed, x);
  LayerActs acts;
  acts.allocate(backend, config, spec, n, false);
  AttentionInputs attn;
  attn.positions = d_positions;
  attn.shape = attention_shape_of(config, static_cast<int>(n), 1);
  attn.seq_rows = rows;
  attn.seq_pasts = pasts;
  std::vector<TensorView> k_caches(sequences.size()), v_caches(sequences.size());
  attn.seq_k_caches = k_caches;
  attn.seq_v_caches = v_caches;
  for (int l = 0; l < n_layers; ++l) {
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      k_caches[s] = sequences[s].k_caches[static_cast<std::size_t>(l)];
      v_caches[s] = sequences[s].v_caches[static_cast<std::size_t>(l)];
    }
    layer_forward(l, x, x, acts, attn, segments);
  }
  return x;
}

std::vector<std::vector<std::int32_t>> LoraModel::generate_batch(std::vector<GenerateRequest> requests,
                                                                 const BatchGenerateOptions& options) {
  Impl& m = *impl_;
  PERSONAS_CHECK(options.max_batch >= 1, internal, "generate: max batch {} must be >= 1", options.max_batch);
  for (const auto& r : requests) check_request(r, m.config, n_adapters());
  const ScopedFlag eval(m.training, false);
  const int n_layers = static_cast<int>(m.config.num_hidden_layers);
  const std::int64_t vocab = m.config.vocab_size;
  std::vector<std::vector<std::int32_t>> out(requests.size());
  std::deque<std::size_t> queue;
  for (std::size_t i = 0; i < requests.size(); ++i) queue.push_back(i);
  std::vector<Slot> slots(static_cast<std::size_t>(options.max_batch));

  // The slot's cache to on_cache: the prompt and the generated tokens fed so far.
  auto hand_over_cache = [&](Slot& slot) {
    const GenerateRequest& request = requests[slot.request];
    GenerationCache cache;
    cache.adapter = request.adapter;
    cache.tokens = std::move(slot.prompt);
    const auto& generated = out[slot.request];
    const auto n_fed = static_cast<std::size_t>(slot.past) - cache.tokens.size();
    cache.tokens.insert(cache.tokens.end(), generated.begin(),
                        generated.begin() + static_cast<std::ptrdiff_t>(n_fed));
    cache.k = std::move(slot.k);
    cache.v = std::move(slot.v);
    options.on_cache(slot.request, std::move(cache));
  };
  auto finish = [&](Slot& slot) {
    slot.active = false;
    if (requests[slot.request].keep_cache && options.on_cache && !slot.k.empty()) hand_over_cache(slot);
    slot.k.clear();
    slot.v.clear();
    slot.prompt.clear();
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
  // One forward pass over the given slots' new tokens; then every slot's next token.
  std::vector<float> logits;
  std::vector<SequenceSpan> spans;
  std::vector<std::int32_t> last_rows;
  auto step = [&](const std::vector<Slot*>& batch, bool prefill) {
    spans.clear();
    last_rows.clear();
    std::int32_t rows = 0;
    for (Slot* s : batch) {
      SequenceSpan span;
      span.tokens = prefill ? std::span<const std::int32_t>(requests[s->request].prompt).subspan(
                                  static_cast<std::size_t>(s->past))  // after the rows a cache gave
                            : std::span<const std::int32_t>(&s->last, 1);
      span.adapter = requests[s->request].adapter;
      span.past = s->past;
      span.k_caches = s->k_views;
      span.v_caches = s->v_views;
      spans.push_back(span);
      rows += static_cast<std::int32_t>(span.tokens.size());
      last_rows.push_back(rows - 1);
    }
    {
      DeviceBuffer x = m.forward_sequences(spans, /*invariant=*/true);
      DeviceBuffer xsn = m.gather_normed(x, last_rows);  // row-wise: invariant
      DeviceBuffer head(m.backend, static_cast<std::int64_t>(batch.size()), vocab);
      m.backend.matmul_batch_invariant(xsn, m.lm_head, head, 1.0f, 0.0f);
      logits.resize(batch.size() * static_cast<std::size_t>(vocab));
      m.backend.copy_to_host(logits.data(), head.view().data, logits.size() * sizeof(float));
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Slot& s = *batch[i];
      s.past += static_cast<int>(spans[i].tokens.size());
      if (prefill) {  // in the cache now
        auto& prompt = requests[s.request].prompt;
        if (requests[s.request].keep_cache) s.prompt = std::move(prompt);
        std::vector<std::int32_t>().swap(prompt);
      }
      choose(s, std::span<const float>(logits).subspan(i * static_cast<std::size_t>(vocab),
                                                        static_cast<std::size_t>(vocab)));
    }
  };

  std::vector<Slot*> batch;
  for (;;) {
    // Admit queued requests into free slots and prefill them together.
    batch.clear();
    std::int64_t prefill_rows = 0;
    for (auto& slot : slots) {
      while (!slot.active && !queue.empty()) {
        const std::size_t r = queue.front();
        const GenerateRequest& request = requests[r];
        const auto n = static_cast<std::int64_t>(request.prompt.size());
        const std::int64_t reused = request.max_new_tokens == 0 ? 0 : reusable_rows(request);
        if (!batch.empty() && prefill_rows + n - reused > kPrefillRows) break;
        queue.pop_front();
        slot.active = true;
        slot.request = r;
        if (request.max_new_tokens == 0) {
          finish(slot);  // nothing to generate (may queue follow-ups)
          continue;
        }
        slot.sampler = std::make_unique<Sampler>(request.sampling);
        slot.past = 0;
        slot.k_views.clear();
        slot.v_views.clear();
        const auto reused_bytes = static_cast<std::size_t>(reused * m.kv_dim()) * sizeof(float);
        for (int l = 0; l < n_layers; ++l) {
          slot.k.emplace_back(m.backend, n + request.max_new_tokens, m.kv_dim());
          slot.v.emplace_back(m.backend, n + request.max_new_tokens, m.kv_dim());
          slot.k_views.push_back(slot.k.back());
          slot.v_views.push_back(slot.v.back());
          if (reused == 0) continue;
          const auto layer = static_cast<std::size_t>(l);
          m.backend.copy_on_device(slot.k.back().view().data, request.reuse->k[layer].view().data, reused_bytes);
          m.backend.copy_on_device(slot.v.back().view().data, request.reuse->v[layer].view().data, reused_bytes);
        }
        slot.past = static_cast<int>(reused);
        requests[r].reuse.reset();  // the rows are copied: the cache may go
        batch.push_back(&slot);
        prefill_rows += n - reused;
      }
      if (!batch.empty() && prefill_rows >= kPrefillRows) break;
    }
    if (!batch.empty()) {
      step(batch, /*prefill=*/true);
      continue;  // finished prompts free slots for the queue first
    }
    for (auto& slot : slots)
      if (slot.active) batch.push_back(&slot);
    if (batch.empty()) break;  // every slot is free and nothing could be admitted: the queue is empty
    step(batch, /*prefill=*/false);
  }
  return out;
}

}  // namespace personas
