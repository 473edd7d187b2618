// Whole-model paths on the GPU against the CPU oracle (tiny preset model,
// fp32 GEMMs unless stated): a batch whose rows use different adapters
// (segment-wise LoRA, the agents' mixed-persona scoring) for the chosen-token
// scores, the full logits and the loss; greedy KV-cache generation; and the
// memory pool staying flat over repeated training steps on the device.
// Tolerances: scores and logits 1e-4 absolute + 1e-3 relative, loss 1e-4
// relative; generated tokens equal (fp32 GEMMs; a near-tie could flip one,
// which the message would show).
#ifdef PERSONAS_HAVE_CUDA

#include <gtest/gtest.h>

#include <random>

#include "cuda_test_support.h"
#include "model/init_model.h"
#include "model/lora_model.h"
#include "model/token_batch.h"

namespace personas {
namespace {

using cuda_test::all_close;

struct MixedCase {
  Phi3Config config = preset_config(ModelPreset::tiny, 300);
  ModelWeights weights;
  LoraSpec spec;
  std::vector<std::vector<float>> adapter_values;
  TokenBatch batch;
  std::vector<ScorePosition> positions;
  std::vector<std::int32_t> digits = {17, 18, 19, 20, 21};

  MixedCase() {
    weights = random_weights(config, 21);
    spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                    LoraTarget::down_proj};
    spec.rank = 8;
    spec.alpha = 16.0f;
    std::mt19937_64 rng(4);
    std::vector<std::vector<std::int32_t>> seqs;
    std::vector<int> begins;
    for (int length : {31, 5, 44, 17, 9}) {
      std::vector<std::int32_t> s(static_cast<std::size_t>(length));
      for (auto& id : s) id = static_cast<std::int32_t>(3 + rng() % static_cast<std::uint64_t>(config.vocab_size - 3));
      seqs.push_back(s);
      begins.push_back(length - 3);
      positions.push_back({static_cast<int>(positions.size()), length - 1});
    }
    batch = TokenBatch::from_sequences(seqs, begins, 0);
    batch.adapters = {2, 0, 1, 2, -1};  // interleaved personas and one base-model row
    CpuBackend cpu;
    LoraModel probe(weights, cpu, spec, 1);
    std::uniform_real_distribution<float> d(-0.05f, 0.05f);
    for (int a = 0; a < 3; ++a) {
      std::vector<float> v(static_cast<std::size_t>(probe.adapter(0).n_params()));
      for (auto& x : v) x = d(rng);
      adapter_values.push_back(std::move(v));
    }
  }

  std::unique_ptr<LoraModel> model_on(Backend& backend) const {
    auto m = std::make_unique<LoraModel>(weights, backend, spec, 3);
    for (int a = 0; a < 3; ++a) m->adapter(a).from_host(0, adapter_values[static_cast<std::size_t>(a)]);
    return m;
  }
};

TEST(CudaModel, MixedAdapterBatchMatchesCpu) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  const MixedCase c;
  CpuBackend cpu;
  auto on_cpu = c.model_on(cpu);
  auto on_gpu = c.model_on(*gpu);
  EXPECT_TRUE(all_close(on_gpu->score(c.batch, c.positions, c.digits), on_cpu->score(c.batch, c.positions, c.digits),
                        1e-4, 1e-3))
      << "chosen-token scores";
  EXPECT_TRUE(all_close(on_gpu->logits(c.batch, c.positions), on_cpu->logits(c.batch, c.positions), 1e-4, 1e-3))
      << "full logits";
  const double loss_cpu = on_cpu->loss(c.batch).mean(), loss_gpu = on_gpu->loss(c.batch).mean();
  EXPECT_NEAR(loss_gpu, loss_cpu, 1e-4 * std::fabs(loss_cpu)) << "mixed-batch loss";
  // The same rows one adapter at a time give the same scores (segments are independent).
  TokenBatch one = c.batch;
  one.adapters.assign(one.adapters.size(), 2);
  const auto all2 = on_gpu->score(one, c.positions, c.digits);
  const auto mixed = on_gpu->score(c.batch, c.positions, c.digits);
  for (std::size_t j = 0; j < c.digits.size(); ++j) {
    EXPECT_NEAR(mixed[0 * c.digits.size() + j], all2[0 * c.digits.size() + j], 1e-5) << "row 0 uses adapter 2";
    EXPECT_NEAR(mixed[3 * c.digits.size() + j], all2[3 * c.digits.size() + j], 1e-5) << "row 3 uses adapter 2";
  }
}

TEST(CudaModel, GreedyGenerationMatchesCpu) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  const MixedCase c;
  CpuBackend cpu;
  auto on_cpu = c.model_on(cpu);
  auto on_gpu = c.model_on(*gpu);
  GenerateOptions options;
  options.max_new_tokens = 24;
  options.sampling.temperature = 0.0f;  // greedy
  const std::vector<std::int32_t> prompt = {5, 9, 33, 71, 2, 140, 8};
  for (int adapter : {-1, 1}) {
    const auto want = on_cpu->generate(prompt, options, adapter);
    const auto got = on_gpu->generate(prompt, options, adapter);
    EXPECT_EQ(got, want) << "adapter " << adapter;
  }
}

TEST(CudaModel, TrainingStepsAfterTheFirstMakeNoCudaMalloc) {
  PERSONAS_REQUIRE_GPU(gpu, true);
  const MixedCase c;
  auto model = c.model_on(*gpu);
  model->set_training(true);
  TokenBatch batch = c.batch;
  batch.adapters.assign(batch.adapters.size(), 0);
  AdamWParams adamw;
  std::vector<MemoryStats> after;
  for (int step = 1; step <= 4; ++step) {
    model->set_step(step);
    model->adapter(0).zero_grads();
    model->forward_backward(batch);
    const double norm = std::sqrt(gpu->sum_squares(model->adapter(0).grads()));
    if (norm > 1.0) gpu->scale(model->adapter(0).grads(), static_cast<float>(1.0 / norm));
    adamw.step = step;
    model->adapter(0).adamw_step(adamw);
    gpu->synchronize();
    after.push_back(gpu->memory_stats());
  }
  for (std::size_t i = 1; i < after.size(); ++i) {
    EXPECT_EQ(after[i].raw_allocations, after[0].raw_allocations) << "step " << i + 1 << " called cudaMalloc";
    EXPECT_EQ(after[i].current_bytes, after[0].current_bytes) << "step " << i + 1 << " leaked";
  }
  std::cout << "[pool] GPU tiny model: " << after[0].raw_allocations << " cudaMalloc in step 1, "
            << after.back().raw_allocations - after[0].raw_allocations << " in steps 2-4, peak " << after[0].peak_bytes
            << " bytes\n";
}

}  // namespace
}  // namespace personas

#endif  // PERSONAS_HAVE_CUDA
