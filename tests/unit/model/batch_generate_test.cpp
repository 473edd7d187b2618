// Batched generation (LoraModel::generate_batch): every request gets exactly
// the tokens that generate() gives it alone, whatever the slot count, the
// order of the queue and its neighbours (greedy and seeded sampling, mixed
// adapters, stop tokens, early stops from the callback, follow-up requests).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "backend/cpu/cpu_backend.h"
#include "tiny_model.h"

namespace personas::testing {
namespace {

// Wider than tiny_config so the matmul tiles, the k % 4 tail and GQA all show.
Phi3Config wide_config() {
  Phi3Config c = tiny_config();
  c.vocab_size = 101;
  c.hidden_size = 36;
  c.intermediate_size = 50;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 96;
  return c;
}

LoraSpec all_targets() {
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                  LoraTarget::down_proj};
  spec.rank = 4;
  return spec;
}

std::vector<GenerateRequest> mixed_requests(const Phi3Config& c, int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<GenerateRequest> out;
  for (int i = 0; i < n; ++i) {
    GenerateRequest r;
    const int len = 1 + static_cast<int>(rng() % 23);
    r.prompt.push_back(1);
    for (int t = 1; t < len; ++t) r.prompt.push_back(static_cast<std::int32_t>(3 + rng() % (c.vocab_size - 3)));
    r.adapter = static_cast<int>(i % 3) - 1;  // -1, 0, 1
    r.max_new_tokens = 1 + static_cast<int>(rng() % 30);
    if (i % 2 == 1) {
      r.sampling.temperature = 1.3f;
      r.sampling.seed = 1000 + static_cast<std::uint64_t>(i);
      if (i % 4 == 1) r.sampling.top_k = 7;
      if (i % 4 == 3) r.sampling.top_p = 0.8f;
    }
    if (i % 5 == 0) r.stop_tokens = {static_cast<std::int32_t>(3 + i % 11)};
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::int32_t> alone(LoraModel& model, const GenerateRequest& r) {
  GenerateOptions g;
  g.max_new_tokens = r.max_new_tokens;
  g.sampling = r.sampling;
  g.stop_tokens = r.stop_tokens;
  return model.generate(r.prompt, g, r.adapter);
}

TEST(GenerateBatch, EveryRequestGetsItsTokensAloneWhateverTheBatch) {
  CpuBackend cpu;
  for (const auto& config : {tiny_config(), wide_config()}) {
    LoraModel model(tiny_weights(config, 41), cpu, all_targets(), 2);
    randomize_adapter(model.adapter(0), 42);
    randomize_adapter(model.adapter(1), 43);
    const auto requests = mixed_requests(config, 17, 5);
    std::vector<std::vector<std::int32_t>> expected;
    std::int64_t n_tokens = 0;
    for (const auto& r : requests) {
      expected.push_back(alone(model, r));
      n_tokens += static_cast<std::int64_t>(expected.back().size());
    }
    EXPECT_GT(n_tokens, 100);
    for (int slots : {1, 3, 8, 32}) {
      BatchGenerateOptions o;
      o.max_batch = slots;
      const auto got = model.generate_batch(requests, o);
      ASSERT_EQ(got.size(), requests.size());
      for (std::size_t i = 0; i < requests.size(); ++i) EXPECT_EQ(got[i], expected[i]) << slots << " slots, request " << i;
    }
    // The queue in reverse order: neighbours and slot assignment change, the tokens do not.
    std::vector<GenerateRequest> reversed(requests.rbegin(), requests.rend());
    BatchGenerateOptions o;
    o.max_batch = 5;
    const auto got = model.generate_batch(reversed, o);
    for (std::size_t i = 0; i < requests.size(); ++i) EXPECT_EQ(got[requests.size() - 1 - i], expected[i]) << i;
  }
}

TEST(GenerateBatch, GreedyTokensFollowTheFullForward) {
  CpuBackend cpu;
  LoraModel model(tiny_weights(wide_config(), 51), cpu, all_targets(), 1);
  randomize_adapter(model.adapter(0), 52);
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < 4; ++i) {
    GenerateRequest r;
    r.prompt = {1, static_cast<std::int32_t>(5 + i), 9, static_cast<std::int32_t>(20 + 3 * i)};
    r.adapter = i % 2 == 0 ? 0 : -1;
    r.max_new_tokens = 10;
    requests.push_back(r);
  }
  BatchGenerateOptions o;
  o.max_batch = 4;
  const auto got = model.generate_batch(requests, o);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto seq = requests[i].prompt;
    for (auto next : got[i]) {
      const std::vector<std::vector<std::int32_t>> seqs = {seq};
      auto batch = TokenBatch::from_sequences(seqs, {}, 0);
      batch.adapters = {requests[i].adapter};
      const auto logits = model.logits(batch, std::vector<ScorePosition>{{0, static_cast<int>(seq.size()) - 1}});
      EXPECT_EQ(argmax(logits), next);
      seq.push_back(next);
    }
  }
}

TEST(GenerateBatch, CallbacksStreamStopAndQueueFollowUps) {
  CpuBackend cpu;
  const Phi3Config config = wide_config();
  LoraModel model(tiny_weights(config, 61), cpu, all_targets(), 2);
  randomize_adapter(model.adapter(0), 62);
  randomize_adapter(model.adapter(1), 63);
  auto requests = mixed_requests(config, 9, 17);
  for (auto& r : requests) r.max_new_tokens = std::max(r.max_new_tokens, 6);
  std::vector<std::vector<std::int32_t>> expected;
  for (const auto& r : requests) expected.push_back(alone(model, r));

  // Stream: tokens arrive per request in order; request 2 is ended by the callback after 3 tokens.
  std::map<std::size_t, std::vector<std::int32_t>> streamed;
  std::map<std::size_t, int> logits_calls;
  // Follow-ups: each original request, once done, queues one continuing it (prompt + answer so far).
  std::map<std::size_t, std::size_t> follow_up_of;
  BatchGenerateOptions o;
  o.max_batch = 3;
  o.on_token = [&](std::size_t r, std::int32_t token) {
    streamed[r].push_back(token);
    return !(r == 2 && streamed[r].size() == 3);
  };
  o.on_logits = [&](std::size_t r, std::span<const float> logits) {
    EXPECT_EQ(static_cast<std::int64_t>(logits.size()), config.vocab_size);
    ++logits_calls[r];
  };
  std::size_t next_index = requests.size();
  o.on_finish = [&](std::size_t r, const std::vector<std::int32_t>& tokens, std::vector<GenerateRequest>& more) {
    if (r >= requests.size()) return;
    GenerateRequest f = requests[r];
    f.prompt.insert(f.prompt.end(), tokens.begin(), tokens.end());
    f.max_new_tokens = 4;
    f.stop_tokens.clear();
    f.sampling.seed += 77;
    follow_up_of[next_index++] = r;
    more.push_back(std::move(f));
  };
  const auto got = model.generate_batch(requests, o);
  ASSERT_EQ(got.size(), 2 * requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto want = i == 2 ? std::vector<std::int32_t>(expected[i].begin(), expected[i].begin() + 3) : expected[i];
    EXPECT_EQ(got[i], want) << i;
    EXPECT_EQ(streamed[i], got[i]) << i;
    EXPECT_EQ(logits_calls[i], static_cast<int>(got[i].size())) << i;
  }
  for (const auto& [index, parent] : follow_up_of) {
    GenerateRequest f = requests[parent];
    f.prompt.insert(f.prompt.end(), got[parent].begin(), got[parent].end());
    f.max_new_tokens = 4;
    f.stop_tokens.clear();
    f.sampling.seed += 77;
    EXPECT_EQ(got[index], alone(model, f)) << "follow-up of " << parent;
  }
}

TEST(GenerateBatch, ChecksEveryRequestBeforeAnyWork) {
  CpuBackend cpu;
  LoraModel model(tiny_weights(tiny_config(), 71), cpu, LoraSpec{}, 1);
  std::vector<GenerateRequest> requests(2);
  requests[0].prompt = {1, 4};
  requests[0].max_new_tokens = 3;
  requests[1].prompt = {1, 99};  // outside the 37-token vocabulary
  int calls = 0;
  BatchGenerateOptions o;
  o.on_token = [&](std::size_t, std::int32_t) { return ++calls > 0; };
  EXPECT_THROW(model.generate_batch(requests, o), Error);
  EXPECT_EQ(calls, 0);
  requests[1].prompt = {1, 4};
  requests[1].max_new_tokens = 0;  // nothing to generate: an empty answer
  const auto got = model.generate_batch(requests, o);
  EXPECT_EQ(got[0].size(), 3u);
  EXPECT_TRUE(got[1].empty());
  o.max_batch = 0;
  EXPECT_THROW(model.generate_batch(requests, o), InternalError);
}


TEST(GenerateBatch, ReusablePrefixLeavesThePromptsLastTokenToPrefill) {
  using V = std::vector<std::int32_t>;
  EXPECT_EQ(reusable_prefix(V{1, 2, 3}, V{1, 2, 3}), 2u);     // the whole prompt cached: its last token is redone
  EXPECT_EQ(reusable_prefix(V{1, 2}, V{1, 2, 3, 4}), 2u);     // the cache ends first
  EXPECT_EQ(reusable_prefix(V{1, 9, 3, 4}, V{1, 2, 3, 4}), 1u);  // up to the first difference
  EXPECT_EQ(reusable_prefix(V{1, 2}, V{1}), 0u);
  EXPECT_EQ(reusable_prefix(V{}, V{1, 2}), 0u);
  EXPECT_EQ(reusable_prefix(V{1}, V{}), 0u);
}

// Logits of every step of each request, by request index.
struct Recorded {
  std::vector<std::vector<std::int32_t>> tokens;
  std::map<std::size_t, std::vector<float>> logits;
};

Recorded run_recorded(LoraModel& model, std::vector<GenerateRequest> requests, int slots,
                      std::map<std::size_t, GenerationCache>* caches = nullptr) {
  Recorded out;
  BatchGenerateOptions o;
  o.max_batch = slots;
  o.on_logits = [&](std::size_t r, std::span<const float> l) {
    out.logits[r].insert(out.logits[r].end(), l.begin(), l.end());
  };
  if (caches != nullptr) o.on_cache = [&](std::size_t r, GenerationCache&& c) { caches->emplace(r, std::move(c)); };
  out.tokens = model.generate_batch(std::move(requests), o);
  return out;
}

// A conversation grows by a few tokens per request (a scaffold's values): the
// next request starts from the cache the previous one left. Its tokens and
// every logit are the same bits as a full prefill, the cache holds the prompt
// and all but the last generated token, and the cached rows are really read.
TEST(GenerateBatch, ReusedCacheGivesTheSameBitsAsAFullPrefill) {
  CpuBackend cpu;
  const Phi3Config config = wide_config();
  LoraModel model(tiny_weights(config, 81), cpu, all_targets(), 1);
  randomize_adapter(model.adapter(0), 82);
  auto firsts = mixed_requests(config, 6, 23);
  for (auto& r : firsts) {
    r.adapter = 0;
    r.max_new_tokens = 8;
    r.stop_tokens.clear();
    r.keep_cache = true;
  }
  std::map<std::size_t, GenerationCache> caches;
  const Recorded first = run_recorded(model, firsts, 4, &caches);
  ASSERT_EQ(caches.size(), firsts.size());
  // The follow-ups: prompt + answer + a few new tokens, with and without the cache.
  std::vector<GenerateRequest> plain, reusing;
  for (std::size_t i = 0; i < firsts.size(); ++i) {
    const GenerationCache& cache = caches.at(i);
    auto want_tokens = firsts[i].prompt;
    want_tokens.insert(want_tokens.end(), first.tokens[i].begin(), first.tokens[i].end() - 1);
    EXPECT_EQ(cache.tokens, want_tokens) << i;
    EXPECT_EQ(cache.k.size(), static_cast<std::size_t>(config.num_hidden_layers));
    GenerateRequest f = firsts[i];
    f.prompt.insert(f.prompt.end(), first.tokens[i].begin(), first.tokens[i].end());
    for (int t = 0; t < 3; ++t) f.prompt.push_back(static_cast<std::int32_t>(7 + 5 * i + t));
    f.max_new_tokens = 6;
    f.keep_cache = false;
    f.sampling.seed += 5;
    plain.push_back(f);
    // Even-numbered follow-ups change an early token: only the rows before it are reused.
    if (i % 2 == 0) f.prompt[f.prompt.size() / 2] = static_cast<std::int32_t>(3 + (f.prompt[f.prompt.size() / 2] % 50));
    f.reuse = std::make_shared<GenerationCache>(std::move(caches.at(i)));
    reusing.push_back(f);
  }
  for (std::size_t i = 0; i < firsts.size(); i += 2) plain[i].prompt = reusing[i].prompt;
  const Recorded want = run_recorded(model, plain, 3);
  const Recorded got = run_recorded(model, reusing, 3);
  for (std::size_t i = 0; i < firsts.size(); ++i) {
    EXPECT_EQ(got.tokens[i], want.tokens[i]) << i;
    EXPECT_EQ(got.logits.at(i), want.logits.at(i)) << i;  // bit for bit
  }
  // A cache whose rows were overwritten changes the answer: the rows are read, not recomputed.
  GenerateRequest f = reusing[1];
  GenerationCache spoiled;
  spoiled.adapter = 0;
  spoiled.tokens = f.reuse->tokens;
  for (std::size_t l = 0; l < f.reuse->k.size(); ++l) {
    const auto rows = f.reuse->k[l].view().rows;
    spoiled.k.emplace_back(cpu, rows, f.reuse->k[l].view().cols);
    spoiled.v.emplace_back(cpu, rows, f.reuse->v[l].view().cols);
    std::fill_n(spoiled.k.back().view().f32(), spoiled.k.back().view().numel(), 3.0f);
    std::fill_n(spoiled.v.back().view().f32(), spoiled.v.back().view().numel(), -2.0f);
  }
  f.reuse = std::make_shared<GenerationCache>(std::move(spoiled));
  EXPECT_NE(run_recorded(model, {f}, 1).logits.at(0), want.logits.at(1));
  // A cache of another adapter is refused before any work.
  f.adapter = -1;
  EXPECT_THROW(model.generate_batch({f}, BatchGenerateOptions{}), InternalError);
}

}  // namespace
}  // namespace personas::testing
