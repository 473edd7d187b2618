// KV-cache generation against recomputing the whole sequence each step, stop
// tokens, and the sampler.
#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "model/sampling.h"
#include "tiny_model.h"

namespace personas::testing {
namespace {

TEST(Generate, GreedyKvCacheMatchesFullRecompute) {
  CpuBackend cpu;
  LoraModel model(tiny_weights(tiny_config(), 31), cpu, LoraSpec{}, 1);
  randomize_adapter(model.adapter(0), 32);
  for (int adapter : {-1, 0}) {
    std::vector<std::int32_t> seq = {1, 5, 9};
    GenerateOptions options;
    options.max_new_tokens = 12;
    const auto generated = model.generate(seq, options, adapter);
    ASSERT_EQ(generated.size(), 12u);
    for (auto next : generated) {
      const std::vector<std::vector<std::int32_t>> seqs = {seq};
      auto batch = TokenBatch::from_sequences(seqs, {}, 0);
      batch.adapters = {adapter};
      const auto logits = model.logits(batch, std::vector<ScorePosition>{{0, static_cast<int>(seq.size()) - 1}});
      EXPECT_EQ(argmax(logits), next);
      seq.push_back(next);
    }
  }
}

TEST(Generate, StopsAtAStopTokenAndChecksLimits) {
  CpuBackend cpu;
  LoraModel model(tiny_weights(tiny_config(), 31), cpu, LoraSpec{}, 0);
  GenerateOptions options;
  options.max_new_tokens = 10;
  const auto free_run = model.generate(std::vector<std::int32_t>{1, 5}, options, -1);
  options.stop_tokens = {free_run[3]};
  const auto stopped = model.generate(std::vector<std::int32_t>{1, 5}, options, -1);
  ASSERT_LE(stopped.size(), 4u);
  EXPECT_EQ(stopped.back(), free_run[3]);
  options.max_new_tokens = 100;  // 2 + 100 > 64 positions
  EXPECT_THROW(model.generate(std::vector<std::int32_t>{1, 5}, options, -1), Error);
  EXPECT_THROW(model.generate(std::vector<std::int32_t>{}, options, -1), InternalError);  // the caller's bug
}

TEST(Generate, SamplingIsSeededAndRespectsTopKTopP) {
  CpuBackend cpu;
  LoraModel model(tiny_weights(tiny_config(), 31), cpu, LoraSpec{}, 0);
  GenerateOptions options;
  options.max_new_tokens = 20;
  options.sampling.temperature = 1.5f;
  options.sampling.seed = 9;
  const auto a = model.generate(std::vector<std::int32_t>{1}, options, -1);
  const auto b = model.generate(std::vector<std::int32_t>{1}, options, -1);
  EXPECT_EQ(a, b);
  options.sampling.seed = 10;
  EXPECT_NE(a, model.generate(std::vector<std::int32_t>{1}, options, -1));
  GenerateOptions greedy;
  greedy.max_new_tokens = 20;
  const auto g = model.generate(std::vector<std::int32_t>{1}, greedy, -1);
  options.sampling.top_k = 1;
  EXPECT_EQ(g, model.generate(std::vector<std::int32_t>{1}, options, -1));
  options.sampling.top_k = 0;
  options.sampling.top_p = 1e-6f;
  EXPECT_EQ(g, model.generate(std::vector<std::int32_t>{1}, options, -1));
}

TEST(Sampler, DistributionFollowsTemperatureAndTopK) {
  const std::vector<float> logits = {0.0f, std::log(3.0f), -100.0f, std::log(2.0f)};
  SamplingOptions o;
  o.temperature = 1.0f;
  o.seed = 1;
  Sampler s(o);
  std::vector<int> counts(4);
  for (int i = 0; i < 6000; ++i) ++counts[static_cast<std::size_t>(s.next(logits))];
  EXPECT_NEAR(counts[1] / 6000.0, 0.5, 0.03);
  EXPECT_NEAR(counts[3] / 6000.0, 1.0 / 3.0, 0.03);
  EXPECT_EQ(counts[2], 0);
  o.top_k = 2;
  Sampler top2(o);
  for (int i = 0; i < 1000; ++i) {
    const auto id = top2.next(logits);
    EXPECT_TRUE(id == 1 || id == 3);
  }
  o.top_k = 0;
  o.top_p = 0.6f;  // 1 alone has 0.5 < 0.6, so {1, 3}
  Sampler nucleus(o);
  for (int i = 0; i < 1000; ++i) {
    const auto id = nucleus.next(logits);
    EXPECT_TRUE(id == 1 || id == 3);
  }
  o.top_p = 1.5f;
  EXPECT_THROW(Sampler{o}, InternalError);  // callers check user values in their own kind
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfChosenTokens) {
  // Greedy over fixed logits: without a penalty the same token forever.
  const std::vector<float> logits = {2.0f, 1.9f, 1.0f, -0.5f};
  SamplingOptions o;
  Sampler plain(o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(plain.next(logits), 0);
  o.repetition_penalty = 1.5f;
  Sampler s(o);
  EXPECT_EQ(s.next(logits), 0);  // nothing chosen yet
  EXPECT_EQ(s.next(logits), 1);  // 2.0 / 1.5 = 1.33 < 1.9
  EXPECT_EQ(s.next(logits), 0);  // 1.33 against 1.9 / 1.5 = 1.27
  EXPECT_EQ(s.next(logits), 0);  // once each: the penalty does not compound
  // A negative logit is multiplied: -0.5 * 1.5 = -0.75 goes below -0.6.
  const std::vector<float> negative = {-0.6f, -0.5f};
  Sampler n(o);
  EXPECT_EQ(n.next(negative), 1);
  EXPECT_EQ(n.next(negative), 0);
  o.repetition_penalty = 0.5f;
  EXPECT_THROW(Sampler{o}, InternalError);
}

}  // namespace
}  // namespace personas::testing
