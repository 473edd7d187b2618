// The GPU benchmarks (issues 8 and 19), written as opt-in tests so that they
// link the model and personas_cuda without a separate CMake target. They
// never run by default: tools/gpu_check.sh runs them, or by hand on a GPU
// machine:
//   PERSONAS_CUDA_BENCH=1 build/tests/test_cuda --gtest_filter='CudaBench.*'
// Environment:
//   PERSONAS_CUDA_BENCH_JSON      append one JSON object per result to this file
//   PERSONAS_CUDA_BENCH_DEADLINE  unix seconds: stop timing steps past it (the
//                                 record says how many were done)
//   PERSONAS_CUDA_BENCH_STEPS     timed training steps (default 5, after 1 warm-up)
//   PERSONAS_CUDA_BENCH_LAYERS    override the layer count (quick runs)
//   PERSONAS_CUDA_BENCH_PEAK_TFLOPS  the card's dense bf16 peak (default 989 =
//                                 H100/H200 SXM)
// Shapes: Phi-3-mini (random weights, vocab 32064, seq 1024, batch 2) and
// SmolLM2-135M (hidden 576, 30 layers, 9 heads over 3 KV heads, ffn 1536,
// vocab 49152, tied embeddings; seq 1024, batch 8). LoRA r16 on every linear
// (q, k, v, o, gate_up, down); bf16 tensor-core GEMMs.
//
// MFU, 4N convention: FLOPs per token = 4 N (a frozen base: forward 2N plus
// the backward to the activations 2N, no weight gradients), N = the matrix
// parameters that every token goes through (the layers' linears and the
// lm_head, counted once even when tied to the embedding; the lookup
// excluded), against the card's dense bf16 peak. mfu_with_attention adds the
// attention term 12 * layers * hidden * (mean visible keys per query). LoRA
// FLOPs are not counted (< 1%).
//
// Scoring: the agents' expected mode (one forward per batch, P(1..5) at the
// answer) over a batch whose consecutive rows use different personas
// (segment-wise LoRA, 8 adapters), ratings/s = rows scored per second.
#ifdef PERSONAS_HAVE_CUDA

#include <cublas_v2.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>

#include "cuda_test_support.h"
#include "model/init_model.h"
#include "model/lora_model.h"
#include "model/token_batch.h"

#ifdef PERSONAS_HAVE_NCCL
#include <nccl.h>
#endif

namespace personas {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

long env_or(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

bool bench_enabled() {
  const char* v = std::getenv("PERSONAS_CUDA_BENCH");
  return v && std::string(v) == "1";
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
bool past_deadline() {
  const long deadline = env_or("PERSONAS_CUDA_BENCH_DEADLINE", 0);
  return deadline > 0 && unix_now() > static_cast<double>(deadline);
}

// One result line for tools/gpu_check.sh (and the console).
void record(nlohmann::json j) {
  std::cout << "[bench] " << j.dump() << "\n";
  const char* path = std::getenv("PERSONAS_CUDA_BENCH_JSON");
  if (path == nullptr || *path == '\0') return;
  std::ofstream out(path, std::ios::app);
  out << j.dump() << "\n";
}

#define PERSONAS_REQUIRE_BENCH() \
  if (!bench_enabled()) GTEST_SKIP() << "benchmark: set PERSONAS_CUDA_BENCH=1 to run it (GPU machine)"

// Like PERSONAS_REQUIRE_GPU, but a missing GPU is also written as a result.
#define PERSONAS_BENCH_GPU(var, bench_name)                                                              \
  std::string var##_reason;                                                                              \
  auto var = ::personas::cuda_test::gpu_or_reason(var##_reason, /*bf16_gemm=*/true);                     \
  if (!var) {                                                                                            \
    record({{"bench", bench_name}, {"status", "no device"}, {"reason", var##_reason}});                 \
    GTEST_SKIP() << "no usable GPU, benchmark skipped: " << var##_reason;                                \
  }

Phi3Config smollm2_135m_shape() {
  Phi3Config c;
  c.arch = ModelArch::llama;
  c.vocab_size = 49152;
  c.hidden_size = 576;
  c.intermediate_size = 1536;
  c.num_hidden_layers = 30;
  c.num_attention_heads = 9;
  c.num_key_value_heads = 3;
  c.rope_theta = 100000.0;
  c.max_position_embeddings = 8192;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.pad_token_id = 2;
  c.tie_word_embeddings = true;
  return c;
}

// N of the 4N convention: the layers' linears plus the lm_head (once, tied or not).
double matrix_parameters(const Phi3Config& c) {
  const double h = static_cast<double>(c.hidden_size), f = static_cast<double>(c.intermediate_size);
  const double qd = static_cast<double>(c.head_dim() * c.num_attention_heads), kvd = static_cast<double>(c.kv_dim());
  const double per_layer = h * (qd + 2 * kvd) + qd * h + 2 * f * h + f * h;
  return static_cast<double>(c.num_hidden_layers) * per_layer + static_cast<double>(c.vocab_size) * h;
}

double mean_visible_keys(const Phi3Config& c, int seq) {
  const double window = c.sliding_window > 0 ? static_cast<double>(c.sliding_window) : 1e30;
  double visible = 0.0;
  for (int i = 0; i < seq; ++i) visible += std::min(static_cast<double>(i + 1), window);
  return visible / seq;
}

nlohmann::json memory_json(const MemoryStats& m) {
  return {{"peak_bytes", m.peak_bytes},       {"peak_reserved_bytes", m.peak_reserved_bytes},
          {"current_bytes", m.current_bytes}, {"cached_bytes", m.cached_bytes},
          {"raw_allocations", m.raw_allocations}, {"allocations", m.allocations}};
}

TokenBatch random_batch(const Phi3Config& c, int rows, int seq, int answer_begin, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<std::int32_t>> seqs(static_cast<std::size_t>(rows));
  for (auto& s : seqs) {
    s.resize(static_cast<std::size_t>(seq));
    for (auto& id : s) id = static_cast<std::int32_t>(3 + rng() % static_cast<std::uint64_t>(c.vocab_size - 3));
  }
  return TokenBatch::from_sequences(seqs, std::vector<int>(static_cast<std::size_t>(rows), answer_begin), 0);
}

// One shape: a LoRA training step (the trainer's path for a group of one:
// forward + backward, device grad norm, clip, AdamW) and mixed-persona scoring.
void bench_shape(const std::string& shape_name, Phi3Config config, int train_batch, int seq, int score_rows,
                 int score_seq) {
  PERSONAS_BENCH_GPU(gpu, shape_name);
  config.num_hidden_layers = env_or("PERSONAS_CUDA_BENCH_LAYERS", config.num_hidden_layers);
  const int steps = static_cast<int>(env_or("PERSONAS_CUDA_BENCH_STEPS", 5));
  const double peak_tflops = static_cast<double>(env_or("PERSONAS_CUDA_BENCH_PEAK_TFLOPS", 989));
  const int n_personas = 8;

  const auto t_init = Clock::now();
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                  LoraTarget::down_proj};
  spec.rank = 16;
  spec.alpha = 32.0f;
  std::unique_ptr<LoraModel> model;
  {
    const ModelWeights weights = random_weights(config, 1);  // the host copy goes at the end of this scope
    // The base as the engine loads it on a GPU: bf16 (model.device_dtype = auto); PERSONAS_CUDA_BENCH_F32_BASE=1: f32.
    model = std::make_unique<LoraModel>(weights, *gpu, spec, n_personas,
                                        env_or("PERSONAS_CUDA_BENCH_F32_BASE", 0) != 0 ? DType::f32 : DType::bf16);
  }
  for (int a = 0; a < n_personas; ++a) model->adapter(a).initialize(static_cast<std::uint64_t>(7 + a));
  gpu->synchronize();
  const double init_seconds = seconds_since(t_init);
  const MemoryStats after_load = gpu->memory_stats();

  // ---- training step ----
  const TokenBatch batch = random_batch(config, train_batch, seq, seq / 2, 3);
  AdamWParams adamw;
  std::vector<double> losses;
  auto step = [&](std::int64_t i) {
    model->set_step(i);
    model->adapter(0).zero_grads();
    losses.push_back(model->forward_backward(batch).mean());
    const double norm = std::sqrt(gpu->sum_squares(model->adapter(0).grads()));
    if (norm > 1.0) gpu->scale(model->adapter(0).grads(), static_cast<float>(1.0 / (norm + 1e-6)));
    adamw.step = i;
    model->adapter(0).adamw_step(adamw);
  };
  model->set_training(true);
  gpu->reset_peak_memory();
  step(1);  // warm-up: cuBLAS heuristics, the pool's first allocations
  gpu->synchronize();
  const MemoryStats after_warmup = gpu->memory_stats();
  std::vector<double> step_seconds;
  for (int i = 0; i < steps && !past_deadline(); ++i) {
    const auto t0 = Clock::now();
    step(2 + i);
    gpu->synchronize();
    step_seconds.push_back(seconds_since(t0));
  }
  const MemoryStats after_train = gpu->memory_stats();
  const double n_matrix = matrix_parameters(config);
  const double hidden = static_cast<double>(config.hidden_size);
  const double attention_flops = 12.0 * static_cast<double>(config.num_hidden_layers) * hidden *
                                 mean_visible_keys(config, seq);
  nlohmann::json train = {{"bench", shape_name},
                          {"part", "train_step"},
                          {"layers", config.num_hidden_layers},
                          {"batch", train_batch},
                          {"seq", seq},
                          {"lora", "r16 q,k,v,o,gate_up,down"},
                          {"n_matrix_parameters", n_matrix},
                          {"init_seconds", init_seconds},
                          {"base_dtype", dtype_name(model->base_dtype())},
                          {"base_bytes", model->base_bytes()},
                          {"memory_after_load", memory_json(after_load)},
                          {"memory_train", memory_json(after_train)},
                          {"raw_allocations_after_warmup",
                           after_train.raw_allocations - after_warmup.raw_allocations},
                          {"step_seconds", step_seconds},
                          {"losses", losses},
                          {"steps_done", step_seconds.size()},
                          {"peak_tflops", peak_tflops}};
  if (step_seconds.empty()) {
    train["status"] = "time limit before a timed step";
  } else {
    std::vector<double> sorted = step_seconds;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    const double tokens_per_s = static_cast<double>(train_batch) * seq / median;
    train["status"] = "ok";
    train["median_step_seconds"] = median;
    train["tokens_per_s"] = tokens_per_s;
    train["mfu_4n"] = tokens_per_s * 4.0 * n_matrix / (peak_tflops * 1e12);
    train["mfu_with_attention"] = tokens_per_s * (4.0 * n_matrix + attention_flops) / (peak_tflops * 1e12);
  }
  record(train);

  // ---- mixed-persona scoring (expected mode) ----
  model->set_training(false);
  TokenBatch score_batch = random_batch(config, score_rows, score_seq, score_seq - 1, 5);
  score_batch.adapters.resize(static_cast<std::size_t>(score_rows));
  for (int r = 0; r < score_rows; ++r) score_batch.adapters[static_cast<std::size_t>(r)] = r % n_personas;
  std::vector<ScorePosition> positions;
  for (int r = 0; r < score_rows; ++r) positions.push_back({r, score_seq - 1});
  const std::vector<std::int32_t> digits = {16, 17, 18, 19, 20};
  gpu->reset_peak_memory();
  model->score(score_batch, positions, digits);  // warm-up
  std::vector<double> call_seconds;
  for (int i = 0; i < steps && !past_deadline(); ++i) {
    const auto t0 = Clock::now();
    model->score(score_batch, positions, digits);  // returns host values: synchronised
    call_seconds.push_back(seconds_since(t0));
  }
  nlohmann::json scoring = {{"bench", shape_name},
                            {"part", "scoring"},
                            {"rows", score_rows},
                            {"seq", score_seq},
                            {"personas", n_personas},
                            {"call_seconds", call_seconds},
                            {"memory_scoring", memory_json(gpu->memory_stats())}};
  if (call_seconds.empty()) {
    scoring["status"] = "time limit before a timed call";
  } else {
    std::vector<double> sorted = call_seconds;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    scoring["status"] = "ok";
    scoring["median_call_seconds"] = median;
    scoring["ratings_per_s"] = score_rows / median;
    scoring["tokens_per_s"] = static_cast<double>(score_rows) * score_seq / median;
  }
  record(scoring);
  EXPECT_EQ(after_train.raw_allocations, after_warmup.raw_allocations) << "timed steps called cudaMalloc";
}

TEST(CudaBench, Environment) {
  PERSONAS_REQUIRE_BENCH();
  PERSONAS_BENCH_GPU(gpu, "environment");
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, gpu->device_index());
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  int cublas_major = 0, cublas_minor = 0, cublas_patch = 0;
  cublasGetProperty(MAJOR_VERSION, &cublas_major);
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  cublasGetProperty(PATCH_LEVEL, &cublas_patch);
  nlohmann::json j = {{"bench", "environment"},
                      {"status", "ok"},
                      {"device", prop.name},
                      {"compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor)},
                      {"sm_count", prop.multiProcessorCount},
                      {"memory_bytes", prop.totalGlobalMem},
                      {"cuda_runtime", runtime},
                      {"cuda_driver", driver},
                      {"cublas", std::to_string(cublas_major) + "." + std::to_string(cublas_minor) + "." +
                                     std::to_string(cublas_patch)}};
#ifdef PERSONAS_HAVE_NCCL
  int nccl = 0;
  ncclGetVersion(&nccl);
  j["nccl"] = nccl;
#endif
  record(j);
}

TEST(CudaBench, SmolLM2_135M) {
  PERSONAS_REQUIRE_BENCH();
  bench_shape("smollm2-135m", smollm2_135m_shape(), 8, 1024, 256, 256);
}

TEST(CudaBench, Phi3Mini) {
  PERSONAS_REQUIRE_BENCH();
  bench_shape("phi3-mini", preset_config(ModelPreset::phi3_mini, 32000), 2, 1024, 64, 256);
}

// Our segment LoRA kernels (shrink + expand) against the same products done
// by cuBLAS (fp32 GEMMs and bf16 tensor-core GEMMs) on Phi-3-mini shapes.
TEST(CudaBench, LoraKernelsVsCublas) {
  PERSONAS_REQUIRE_BENCH();
  PERSONAS_BENCH_GPU(tensor_cores, "lora-kernels");
  CudaBackendOptions fp32_options;
  fp32_options.bf16_gemm = false;
  CudaBackend exact(tensor_cores->device_index(), fp32_options);
  const std::int64_t n = 2048, rank = 16;
  nlohmann::json rows = nlohmann::json::array();
  for (auto [in, out] : {std::pair<std::int64_t, std::int64_t>{3072, 3072}, {3072, 9216}, {3072, 16384},
                         {8192, 3072}}) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(in + out));
    cuda_test::Twin x(exact, n, in), a(exact, rank, in), b(exact, out, rank), t(exact, n, rank), y(exact, n, out);
    x.fill_uniform(rng);
    a.fill_uniform(rng);
    b.fill_uniform(rng);
    const TensorView as[] = {a.gpu()}, bs[] = {b.gpu()};
    const LoraSegment segs[] = {{0, n, 0}};
    auto time = [](CudaBackend& backend, auto&& fn) {
      fn();
      backend.synchronize();
      const int iterations = 50;
      const auto t0 = Clock::now();
      for (int i = 0; i < iterations; ++i) fn();
      backend.synchronize();
      return 1e6 * seconds_since(t0) / iterations;
    };
    const double ours = time(exact, [&] {
      exact.lora_shrink(x.gpu(), as, segs, t.gpu());
      exact.lora_expand(t.gpu(), bs, segs, 2.0f, y.gpu());
    });
    const double cublas32 = time(exact, [&] {
      exact.matmul(x.gpu(), false, a.gpu(), true, t.gpu(), 1.0f, 0.0f);
      exact.matmul(t.gpu(), false, b.gpu(), true, y.gpu(), 2.0f, 1.0f);
    });
    // The bf16 backend shares no stream with the fp32 one; time it on its own buffers.
    cuda_test::Twin x2(*tensor_cores, n, in), a2(*tensor_cores, rank, in), b2(*tensor_cores, out, rank),
        t2(*tensor_cores, n, rank), y2(*tensor_cores, n, out);
    const double cublas16 = time(*tensor_cores, [&] {
      tensor_cores->matmul(x2.gpu(), false, a2.gpu(), true, t2.gpu(), 1.0f, 0.0f);
      tensor_cores->matmul(t2.gpu(), false, b2.gpu(), true, y2.gpu(), 2.0f, 1.0f);
    });
    rows.push_back({{"in", in}, {"out", out}, {"ours_us", ours}, {"cublas_fp32_us", cublas32},
                    {"cublas_bf16_us", cublas16}});
  }
  record({{"bench", "lora-kernels"}, {"status", "ok"}, {"n", n}, {"rank", rank}, {"shapes", rows}});
}

}  // namespace
}  // namespace personas

#endif  // PERSONAS_HAVE_CUDA
