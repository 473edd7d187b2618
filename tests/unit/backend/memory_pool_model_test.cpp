// The caching allocator behind a whole model on the CPU backend: a training
// step (forward, backward, AdamW) that repeats the previous one makes no raw
// allocation and holds no more memory; the same for generation and scoring,
// and the peak is reported through Backend::memory_stats.
#include <gtest/gtest.h>

#include <random>

#include "backend/cpu/cpu_backend.h"
#include "model/init_model.h"
#include "model/lora_model.h"
#include "model/token_batch.h"

namespace personas {
namespace {

TokenBatch random_batch(const Phi3Config& c, std::initializer_list<int> lengths, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<std::int32_t>> seqs;
  std::vector<int> begins;
  for (int length : lengths) {
    std::vector<std::int32_t> s(static_cast<std::size_t>(length));
    for (auto& id : s) id = static_cast<std::int32_t>(3 + rng() % static_cast<std::uint64_t>(c.vocab_size - 3));
    seqs.push_back(std::move(s));
    begins.push_back(length / 2);
  }
  return TokenBatch::from_sequences(seqs, begins, 0);
}

class PoolModel : public ::testing::TestWithParam<bool> {};  // param: activation recompute

TEST_P(PoolModel, TrainingStepsAfterTheFirstMakeNoRawAllocation) {
  CpuBackend cpu;
  const Phi3Config c = preset_config(ModelPreset::tiny, 300);
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                  LoraTarget::down_proj};
  spec.rank = 4;
  spec.dropout = 0.1f;
  spec.recompute = GetParam();
  LoraModel model(random_weights(c, 3), cpu, spec, 1);
  model.adapter(0).initialize(1);
  model.set_training(true);
  const TokenBatch batch = random_batch(c, {37, 12, 29}, 4);
  AdamWParams adamw;
  std::vector<MemoryStats> after;
  for (int step = 1; step <= 4; ++step) {
    model.set_step(step);
    model.adapter(0).zero_grads();
    model.forward_backward(batch);
    const double norm = cpu.sum_squares(model.adapter(0).grads());
    if (norm > 1.0) cpu.scale(model.adapter(0).grads(), 0.5f);
    adamw.step = step;
    model.adapter(0).adamw_step(adamw);
    after.push_back(cpu.memory_stats());
  }
  EXPECT_GT(after[0].raw_allocations, 0);
  EXPECT_GT(after[0].peak_bytes, after[0].current_bytes) << "activations were freed after the step";
  for (std::size_t i = 1; i < after.size(); ++i) {
    EXPECT_EQ(after[i].raw_allocations, after[0].raw_allocations) << "step " << i + 1 << " allocated raw memory";
    EXPECT_EQ(after[i].current_bytes, after[0].current_bytes) << "step " << i + 1 << " leaked";
    EXPECT_EQ(after[i].reserved_bytes, after[0].reserved_bytes);
    EXPECT_EQ(after[i].peak_bytes, after[0].peak_bytes);
  }
  std::cout << "[pool] tiny model, recompute " << GetParam() << ": " << after[0].raw_allocations
            << " raw allocations in step 1, " << after.back().raw_allocations - after[0].raw_allocations
            << " in steps 2-4; " << after.back().allocations - after[0].allocations << " allocations in steps 2-4; peak "
            << after[0].peak_bytes << " bytes\n";
}

INSTANTIATE_TEST_SUITE_P(Recompute, PoolModel, ::testing::Bool());

TEST(PoolModelInference, ScoringAndGenerationReuseTheirBuffers) {
  CpuBackend cpu;
  const Phi3Config c = preset_config(ModelPreset::tiny, 300);
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::v};
  spec.rank = 4;
  LoraModel model(random_weights(c, 9), cpu, spec, 2);
  model.adapter(0).initialize(1);
  model.adapter(1).initialize(2);
  TokenBatch batch = random_batch(c, {20, 9, 15}, 6);
  batch.adapters = {0, 1, 0};
  const std::vector<ScorePosition> positions = {{0, 19}, {1, 8}, {2, 14}};
  const std::vector<std::int32_t> digits = {10, 11, 12, 13, 14};
  const std::vector<std::int32_t> prompt = {5, 6, 7, 8, 9, 10};
  GenerateOptions options;
  options.max_new_tokens = 12;
  auto run = [&] {
    model.score(batch, positions, digits);
    model.generate(prompt, options, 1);
  };
  run();
  const MemoryStats first = cpu.memory_stats();
  run();
  run();
  const MemoryStats later = cpu.memory_stats();
  EXPECT_EQ(later.raw_allocations, first.raw_allocations);
  EXPECT_EQ(later.current_bytes, first.current_bytes);
  EXPECT_GT(later.cache_hits, first.cache_hits);
  cpu.empty_cache();
  EXPECT_EQ(cpu.memory_stats().cached_bytes, 0u);
  EXPECT_EQ(cpu.memory_stats().reserved_bytes, cpu.memory_stats().current_bytes);
}

}  // namespace
}  // namespace personas
