// A whole LoRA training step (forward, backward, AdamW) of the tiny preset
// model on the GPU against the CPU oracle: same weights, same adapter values,
// same batch (mixed lengths, answer-only targets, LoRA dropout on), compared
// by loss and by the relative L2 error of the gradient and parameter sections.
// fp32 GEMMs: loss 1e-4 relative, grads / params 1e-3 relative L2.
// bf16 tensor-core GEMMs: loss 2e-2 relative, grads 5e-2 relative L2.
#ifdef PERSONAS_HAVE_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cuda_test_support.h"
#include "model/init_model.h"
#include "model/lora_model.h"
#include "model/token_batch.h"

namespace personas {
namespace {

double relative_l2(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    const double d = static_cast<double>(gpu[i]) - cpu[i];
    num += d * d;
    den += static_cast<double>(cpu[i]) * cpu[i];
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

struct StepResult {
  double loss = 0.0;
  double grad_norm = 0.0;
  std::vector<float> grads, params;
};

StepResult train_step(Backend& backend, const ModelWeights& weights, const LoraSpec& spec,
                      const std::vector<float>& adapter_values, const TokenBatch& batch) {
  LoraModel model(weights, backend, spec, 1);
  model.adapter(0).initialize(spec.seed);
  model.adapter(0).from_host(0, adapter_values);  // B != 0 so that every gradient is non-trivial
  model.set_training(true);
  model.set_step(3);
  StepResult r;
  r.loss = model.forward_backward(batch).mean();
  r.grads = model.adapter(0).to_host(1);
  // The trainer's device gradient path: the norm on the device, clipping by scale, then AdamW.
  r.grad_norm = std::sqrt(backend.sum_squares(model.adapter(0).grads()));
  if (r.grad_norm > 0.5) backend.scale(model.adapter(0).grads(), static_cast<float>(0.5 / (r.grad_norm + 1e-6)));
  AdamWParams adamw;
  adamw.lr = 1e-3f;
  adamw.weight_decay = 0.01f;
  model.adapter(0).adamw_step(adamw);
  r.params = model.adapter(0).to_host(0);
  return r;
}

void run_step_test(bool bf16_gemm, double loss_rtol, double grad_rl2, double param_rl2) {
  PERSONAS_REQUIRE_GPU(gpu, bf16_gemm);
  Phi3Config config = preset_config(ModelPreset::tiny, 300);
  config.sliding_window = 24;  // exercise the window in attention
  const ModelWeights weights = random_weights(config, 77);
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                  LoraTarget::down_proj};
  spec.rank = 4;
  spec.alpha = 8.0f;
  spec.dropout = 0.1f;
  spec.seed = 5;

  std::mt19937_64 rng(99);
  std::vector<std::vector<std::int32_t>> sequences;
  std::vector<int> answer_begin;
  for (int length : {40, 7, 33}) {
    std::vector<std::int32_t> s(static_cast<std::size_t>(length));
    for (auto& id : s) id = static_cast<std::int32_t>(3 + rng() % static_cast<std::uint64_t>(config.vocab_size - 3));
    sequences.push_back(s);
    answer_begin.push_back(length / 2);
  }
  const TokenBatch batch = TokenBatch::from_sequences(sequences, answer_begin, 0);

  CpuBackend cpu;
  std::vector<float> adapter_values;
  {
    LoraModel probe(weights, cpu, spec, 1);
    adapter_values.resize(static_cast<std::size_t>(probe.adapter(0).n_params()));
  }
  std::uniform_real_distribution<float> d(-0.05f, 0.05f);
  for (auto& v : adapter_values) v = d(rng);

  const StepResult on_cpu = train_step(cpu, weights, spec, adapter_values, batch);
  const StepResult on_gpu = train_step(*gpu, weights, spec, adapter_values, batch);
  ASSERT_TRUE(std::isfinite(on_gpu.loss));
  EXPECT_NEAR(on_gpu.loss, on_cpu.loss, loss_rtol * std::fabs(on_cpu.loss)) << (bf16_gemm ? "bf16" : "fp32");
  EXPECT_LT(relative_l2(on_gpu.grads, on_cpu.grads), grad_rl2) << "gradient section";
  EXPECT_NEAR(on_gpu.grad_norm, on_cpu.grad_norm, grad_rl2 * on_cpu.grad_norm) << "gradient norm";
  EXPECT_LT(relative_l2(on_gpu.params, on_cpu.params), param_rl2) << "parameters after AdamW";
  std::cout << "[train step] " << (bf16_gemm ? "bf16" : "fp32") << " GEMMs: loss cpu " << on_cpu.loss << " gpu "
            << on_gpu.loss << ", grad rel-L2 " << relative_l2(on_gpu.grads, on_cpu.grads) << "\n";
}

TEST(CudaTrainStep, TinyModelMatchesCpuFp32Gemm) { run_step_test(false, 1e-4, 1e-3, 5e-3); }

TEST(CudaTrainStep, TinyModelMatchesCpuBf16Gemm) { run_step_test(true, 2e-2, 5e-2, 5e-2); }

}  // namespace
}  // namespace personas

#endif  // PERSONAS_HAVE_CUDA
