// The GPU benchmark (issue 8), written as opt-in tests so that it links the
// model and personas_cuda without a separate CMake target. It never runs by
// default: set PERSONAS_CUDA_BENCH=1 on a GPU machine, e.g.
//   PERSONAS_CUDA_BENCH=1 build/tests/test_cuda --gtest_filter='CudaBench.*'
// Knobs (environment): PERSONAS_CUDA_BENCH_LAYERS (default 32, the full
// Phi-3-mini), PERSONAS_CUDA_BENCH_BATCH (default 2), PERSONAS_CUDA_BENCH_SEQ
// (default 1024), PERSONAS_CUDA_BENCH_STEPS (default 5),
// PERSONAS_CUDA_BENCH_PEAK_TFLOPS (default 989 = H100 SXM dense bf16).
//
// MFU = achieved FLOP/s / peak, with FLOPs per token = 4 N (frozen base:
// forward 2N + backward to the activations 2N, no weight gradients; N = all
// matrix parameters incl. lm_head, the embedding lookup excluded) + attention
// 12 * layers * hidden * (mean visible keys per query) (forward QK^T and PV,
// backward twice that). LoRA FLOPs are not counted (< 1%).
#ifdef PERSONAS_HAVE_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <random>

#include "cuda_test_support.h"
#include "model/init_model.h"
#include "model/lora_model.h"
#include "model/token_batch.h"

namespace personas {
namespace {

long env_or(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

bool bench_enabled() {
  const char* v = std::getenv("PERSONAS_CUDA_BENCH");
  return v && std::string(v) == "1";
}

#define PERSONAS_REQUIRE_BENCH() \
  if (!bench_enabled()) GTEST_SKIP() << "benchmark: set PERSONAS_CUDA_BENCH=1 to run it (GPU machine)"

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

TEST(CudaBench, LoraTrainStepPhi3Mini) {
  PERSONAS_REQUIRE_BENCH();
  PERSONAS_REQUIRE_GPU(gpu, true);
  Phi3Config config = preset_config("phi3-mini", 32000);
  config.num_hidden_layers = env_or("PERSONAS_CUDA_BENCH_LAYERS", config.num_hidden_layers);
  const int batch_size = static_cast<int>(env_or("PERSONAS_CUDA_BENCH_BATCH", 2));
  const int seq = static_cast<int>(env_or("PERSONAS_CUDA_BENCH_SEQ", 1024));
  const int steps = static_cast<int>(env_or("PERSONAS_CUDA_BENCH_STEPS", 5));
  const double peak_tflops = static_cast<double>(env_or("PERSONAS_CUDA_BENCH_PEAK_TFLOPS", 989));

  auto t_init = Clock::now();
  const ModelWeights weights = random_weights(config, 1);
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj};
  spec.rank = 16;
  spec.alpha = 32.0f;
  LoraModel model(weights, *gpu, spec, 1);
  model.adapter(0).initialize(7);
  model.set_training(true);
  gpu->synchronize();
  std::cout << "[bench] init " << seconds_since(t_init) << " s; GPU " << gpu->device_name() << "\n";

  std::mt19937_64 rng(3);
  std::vector<std::vector<std::int32_t>> sequences(static_cast<std::size_t>(batch_size));
  std::vector<int> answer_begin;
  for (auto& s : sequences) {
    s.resize(static_cast<std::size_t>(seq));
    for (auto& id : s) id = static_cast<std::int32_t>(3 + rng() % 31000);
    answer_begin.push_back(seq / 2);
  }
  const TokenBatch batch = TokenBatch::from_sequences(sequences, answer_begin, 0);

  AdamWParams adamw;
  auto step = [&](std::int64_t i) {
    model.set_step(i);
    model.forward_backward(batch);
    adamw.step = i;
    model.adapter(0).adamw_step(adamw);
    model.adapter(0).zero_grads();
  };
  step(1);  // warm-up (cuBLAS heuristics, scratch growth)
  gpu->synchronize();
  const auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) step(2 + i);
  gpu->synchronize();
  const double elapsed = seconds_since(t0);

  const double hidden = static_cast<double>(config.hidden_size);
  const double n_matrix = static_cast<double>(config.n_parameters()) - static_cast<double>(config.vocab_size) * hidden;
  const double window = config.sliding_window > 0 ? static_cast<double>(config.sliding_window) : 1e30;
  double visible = 0.0;
  for (int i = 0; i < seq; ++i) visible += std::min(static_cast<double>(i + 1), window);
  visible /= seq;
  const double flops_per_token =
      4.0 * n_matrix + 12.0 * static_cast<double>(config.num_hidden_layers) * hidden * visible;
  const double tokens = static_cast<double>(batch_size) * seq * steps;
  const double tokens_per_s = tokens / elapsed;
  const double mfu = tokens_per_s * flops_per_token / (peak_tflops * 1e12);
  std::size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  std::cout << std::fixed << std::setprecision(3) << "[bench] Phi-3-mini shape, " << config.num_hidden_layers
            << " layers, batch " << batch_size << " x seq " << seq << ", LoRA r16 q,k,v,o, bf16 tensor-core GEMMs\n"
            << "[bench] " << steps << " steps in " << elapsed << " s: " << tokens_per_s << " tokens/s, "
            << flops_per_token / 1e9 << " GFLOP/token, MFU " << 100.0 * mfu << " % of " << peak_tflops
            << " TFLOP/s\n"
            << "[bench] backend peak allocated " << static_cast<double>(gpu->memory_stats().peak_bytes) / (1 << 30)
            << " GiB; device in use now " << static_cast<double>(total_bytes - free_bytes) / (1 << 30) << " of "
            << static_cast<double>(total_bytes) / (1 << 30) << " GiB\n";
  SUCCEED();
}

// Our segment LoRA kernels (shrink + expand) against the same products done
// by cuBLAS (fp32 GEMMs and bf16 tensor-core GEMMs) on Phi-3-mini shapes.
TEST(CudaBench, LoraKernelsVsCublas) {
  PERSONAS_REQUIRE_BENCH();
  PERSONAS_REQUIRE_GPU(fp32, false);
  std::string reason;
  auto bf16 = cuda_test::gpu_or_reason(reason, true);
  ASSERT_TRUE(bf16) << reason;
  const std::int64_t n = 2048, rank = 16;
  for (auto [in, out] : {std::pair<std::int64_t, std::int64_t>{3072, 3072}, {3072, 9216}, {3072, 16384},
                         {8192, 3072}}) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(in + out));
    cuda_test::Twin x(*fp32, n, in), a(*fp32, rank, in), b(*fp32, out, rank), t(*fp32, n, rank), y(*fp32, n, out);
    x.fill_uniform(rng);
    a.fill_uniform(rng);
    b.fill_uniform(rng);
    const TensorView as[] = {a.gpu()}, bs[] = {b.gpu()};
    const LoraSegment segs[] = {{0, n, 0}};
    auto time = [&](auto&& fn) {
      fn();
      fp32->synchronize();
      const int iterations = 50;
      const auto t0 = Clock::now();
      for (int i = 0; i < iterations; ++i) fn();
      fp32->synchronize();
      return 1e6 * seconds_since(t0) / iterations;
    };
    const double ours = time([&] {
      fp32->lora_shrink(x.gpu(), as, segs, t.gpu());
      fp32->lora_expand(t.gpu(), bs, segs, 2.0f, y.gpu());
    });
    const double cublas32 = time([&] {
      fp32->matmul(x.gpu(), false, a.gpu(), true, t.gpu(), 1.0f, 0.0f);
      fp32->matmul(t.gpu(), false, b.gpu(), true, y.gpu(), 2.0f, 1.0f);
    });
    // The bf16 backend shares no stream with fp32; time it on its own buffers.
    cuda_test::Twin x2(*bf16, n, in), a2(*bf16, rank, in), b2(*bf16, out, rank), t2(*bf16, n, rank),
        y2(*bf16, n, out);
    bf16->matmul(x2.gpu(), false, a2.gpu(), true, t2.gpu(), 1.0f, 0.0f);  // warm-up
    bf16->synchronize();
    const auto t0 = Clock::now();
    for (int i = 0; i < 50; ++i) {
      bf16->matmul(x2.gpu(), false, a2.gpu(), true, t2.gpu(), 1.0f, 0.0f);
      bf16->matmul(t2.gpu(), false, b2.gpu(), true, y2.gpu(), 2.0f, 1.0f);
    }
    bf16->synchronize();
    const double cublas16 = 1e6 * seconds_since(t0) / 50;
    std::cout << "[bench] LoRA r" << rank << " n " << n << " in " << in << " out " << out << ": ours " << ours
              << " us, cuBLAS fp32 " << cublas32 << " us, cuBLAS bf16-TC " << cublas16 << " us\n";
  }
  SUCCEED();
}

}  // namespace
}  // namespace personas

#endif  // PERSONAS_HAVE_CUDA
