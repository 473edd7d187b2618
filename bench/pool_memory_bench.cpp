// Memory per rank from the backend's own pool accounting (issue 19), on the
// CPU backend: the pool (backend/caching_allocator.h) is the same code with
// the same size classes as on the GPU, and the model allocates the same
// buffers on either backend (fp32 activations), so these are the GPU pool's
// figures less CUDA's scratch (GEMM conversion, attention, LoRA dt buffers).
//
//   bench_pool_memory_bench --shape phi3-mini|smollm2-135m [--layers L] [--batch 2] [--seq 1024]
//                           [--score-rows 64] [--score-seq 256] [--adapters 8]
//                           [--per-rank 1] [--gen-slots 16] [--gen-tokens 1024] [--recompute 0|1]
//
// Prints one JSON object: the base's pool bytes for the whole model (all
// layers) in f32 and in bf16 computed from the size classes (no allocation);
// then, measured with --layers L (default: all), the pool after the upload,
// the peak of one LoRA training step (r16, every linear; forward, backward,
// norm, clip, AdamW) over batch x seq tokens, and the peak of scoring
// score-rows rows of score-seq tokens with a mixed-persona batch.
//
// --per-rank 1: the memory of one GPU rank for the whole model without
// holding it: the same measurement with 1 and 2 layers (every figure above
// the base is linear in the layer count: per-layer activations, arenas),
// extrapolated to all layers, plus the bf16 base (model.device_dtype = bf16,
// the CUDA default: model/base_dtype.h's plan through the pool's size
// classes), CUDA's scratch for the mixed f32 x bf16 GEMMs (the largest fp32
// operand rounded to bf16, cuda_backend.cpp's kScratchA) and the KV caches of
// batched generation (gen-slots sequences of gen-tokens, per layer one k and
// one v buffer [tokens, kv_dim] f32 as lora_model_batch_generate.cpp makes).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "backend/cpu/cpu_backend.h"
#include "model/base_dtype.h"
#include "model/checkpoint.h"
#include "model/init_model.h"
#include "model/lora_model.h"

using namespace personas;

namespace {

Phi3Config shape_config(const std::string& shape) {
  if (shape == "phi3-mini") return preset_config(ModelPreset::phi3_mini, 32000);
  if (shape == "smollm2-135m") {
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
  std::fprintf(stderr, "unknown --shape %s (phi3-mini, smollm2-135m)\n", shape.c_str());
  std::exit(2);
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

struct Measured {
  std::size_t after_load = 0, base = 0, arenas = 0, train_peak = 0, score_peak = 0;
  std::int64_t train_raw = 0;
  double loss = 0.0, train_seconds = 0.0;
};

// One LoRA model of `config` (f32 base) on a CPU backend: the pool after load,
// the peak of one training step and of one mixed-persona scoring batch.
Measured measure(const Phi3Config& config, const LoraSpec& spec, int n_adapters, int batch, int seq, int score_rows,
                 int score_seq) {
  CpuBackend cpu;
  std::unique_ptr<LoraModel> model;
  {
    const ModelWeights weights = random_weights(config, 1);
    model = std::make_unique<LoraModel>(weights, cpu, spec, n_adapters);
  }
  for (int a = 0; a < n_adapters; ++a) model->adapter(a).initialize(static_cast<std::uint64_t>(3 + a));
  Measured m;
  m.after_load = cpu.memory_stats().current_bytes;
  m.base = model->base_bytes();
  m.arenas = static_cast<std::size_t>(model->adapter(0).n_params()) * 4 * sizeof(float) *
             static_cast<std::size_t>(n_adapters);

  const auto t0 = std::chrono::steady_clock::now();
  cpu.reset_peak_memory();
  model->set_training(true);
  model->set_step(1);
  const TokenBatch tb = random_batch(config, batch, seq, seq / 2, 2);
  model->adapter(0).zero_grads();
  m.loss = model->forward_backward(tb).mean();
  const double norm = std::sqrt(cpu.sum_squares(model->adapter(0).grads()));
  if (norm > 1.0) cpu.scale(model->adapter(0).grads(), static_cast<float>(1.0 / norm));
  model->adapter(0).adamw_step(AdamWParams{});
  const MemoryStats train = cpu.memory_stats();
  m.train_peak = train.peak_bytes;
  m.train_raw = train.raw_allocations;
  m.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  cpu.reset_peak_memory();
  model->set_training(false);
  TokenBatch sb = random_batch(config, score_rows, score_seq, score_seq - 1, 4);
  sb.adapters.resize(static_cast<std::size_t>(score_rows));
  std::vector<ScorePosition> positions;
  for (int r = 0; r < score_rows; ++r) {
    sb.adapters[static_cast<std::size_t>(r)] = r % n_adapters;
    positions.push_back({r, score_seq - 1});
  }
  model->score(sb, positions, std::vector<std::int32_t>{16, 17, 18, 19, 20});
  m.score_peak = cpu.memory_stats().peak_bytes;
  return m;
}

double gib(std::size_t bytes) { return static_cast<double>(bytes) / static_cast<double>(1ull << 30); }

}  // namespace

int main(int argc, char** argv) try {
  std::string shape = "smollm2-135m";
  int layers = 0, batch = 2, seq = 1024, score_rows = 64, score_seq = 256, n_adapters = 8, per_rank = 0,
      gen_slots = 16, gen_tokens = 1024, recompute = 0;
  for (int a = 1; a + 1 < argc; a += 2) {
    const std::string key = argv[a], value = argv[a + 1];
    if (key == "--shape") shape = value;
    else if (key == "--layers") layers = std::stoi(value);
    else if (key == "--batch") batch = std::stoi(value);
    else if (key == "--seq") seq = std::stoi(value);
    else if (key == "--score-rows") score_rows = std::stoi(value);
    else if (key == "--score-seq") score_seq = std::stoi(value);
    else if (key == "--adapters") n_adapters = std::stoi(value);
    else if (key == "--per-rank") per_rank = std::stoi(value);
    else if (key == "--gen-slots") gen_slots = std::stoi(value);
    else if (key == "--gen-tokens") gen_tokens = std::stoi(value);
    else if (key == "--recompute") recompute = std::stoi(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", key.c_str());
      return 2;
    }
  }
  const Phi3Config full = shape_config(shape);
  CachingAllocator sizes([](std::size_t) -> void* { return nullptr; }, [](void*, std::size_t) {});
  auto pool_bytes = [&](DType dtype) {
    std::size_t bytes = 0;
    for (const auto& t : plan_base_upload(full, dtype)) bytes += sizes.block_size(t.bytes());
    return bytes;
  };
  const std::size_t base_f32 = pool_bytes(DType::f32), base_bf16 = pool_bytes(DType::bf16);
  nlohmann::json out = {{"shape", shape},
                        {"full_layers", full.num_hidden_layers},
                        {"pool_base_f32_bytes", base_f32},
                        {"pool_base_bf16_bytes", base_bf16}};
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                  LoraTarget::down_proj};
  spec.rank = 16;
  spec.alpha = 32.0f;
  spec.recompute = recompute != 0;  // keep only each layer's input, redo the layer in the backward
  out["adapters"] = n_adapters;
  out["recompute"] = spec.recompute;
  out["lora"] = "r16 q,k,v,o,gate_up,down";

  if (per_rank == 0) {
    Phi3Config config = full;
    if (layers > 0) config.num_hidden_layers = layers;
    const Measured m = measure(config, spec, n_adapters, batch, seq, score_rows, score_seq);
    out["measured_layers"] = config.num_hidden_layers;
    out["pool_after_load_bytes"] = m.after_load;
    out["train"] = {{"batch", batch},
                    {"seq", seq},
                    {"loss", m.loss},
                    {"seconds", m.train_seconds},
                    {"peak_bytes", m.train_peak},
                    {"peak_above_load_bytes", m.train_peak - m.after_load},
                    {"raw_allocations", m.train_raw}};
    out["scoring"] = {{"rows", score_rows},
                      {"seq", score_seq},
                      {"peak_bytes", m.score_peak},
                      {"peak_above_load_bytes", m.score_peak - m.after_load}};
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }

  // Per rank: measure with 1 and 2 layers, extrapolate linearly to all layers.
  const auto L = static_cast<double>(full.num_hidden_layers);
  Phi3Config c1 = full, c2 = full;
  c1.num_hidden_layers = 1;
  c2.num_hidden_layers = 2;
  const Measured m1 = measure(c1, spec, n_adapters, batch, seq, score_rows, score_seq);
  const Measured m2 = measure(c2, spec, n_adapters, batch, seq, score_rows, score_seq);
  auto extrapolate = [&](std::size_t at1, std::size_t at2) {
    const double per_layer = static_cast<double>(at2) - static_cast<double>(at1);
    return static_cast<std::size_t>(std::llround(static_cast<double>(at1) + per_layer * (L - 1.0)));
  };
  // Above the base: the pool after load less the base's own blocks.
  auto base_pool_at = [&](const Phi3Config& c) {
    std::size_t bytes = 0;
    for (const auto& t : plan_base_upload(c, DType::f32)) bytes += sizes.block_size(t.bytes());
    return bytes;
  };
  const std::size_t arenas_pool = extrapolate(m1.after_load - base_pool_at(c1), m2.after_load - base_pool_at(c2));
  const std::size_t train_acts = extrapolate(m1.train_peak - m1.after_load, m2.train_peak - m2.after_load);
  const std::size_t score_acts = extrapolate(m1.score_peak - m1.after_load, m2.score_peak - m2.after_load);
  // CUDA's bf16 staging (kScratchA): the largest fp32 operand of a matmul whose other operand is the bf16 base.
  const std::int64_t n = static_cast<std::int64_t>(batch) * seq, h = full.hidden_size, f = full.intermediate_size,
                     qd = full.head_dim() * full.num_attention_heads, kvd = full.kv_dim();
  const std::int64_t head_rows = std::min<std::int64_t>(n, 256);  // the loss's row chunk (lora_model.cpp)
  const std::int64_t staged = std::max({n * h, n * qd, n * f, n * 2 * f, head_rows * full.vocab_size});
  const std::size_t scratch = sizes.block_size(static_cast<std::size_t>(staged) * 2);
  std::size_t kv_per_sequence = 0;
  for (int k = 0; k < 2; ++k) kv_per_sequence += sizes.block_size(static_cast<std::size_t>(gen_tokens * kvd) * 4);
  kv_per_sequence *= static_cast<std::size_t>(full.num_hidden_layers);
  const std::size_t kv = kv_per_sequence * static_cast<std::size_t>(gen_slots);
  // Training holds one adapter (a rank trains one persona); scoring and generation all n_adapters.
  const std::size_t per_adapter = arenas_pool / static_cast<std::size_t>(n_adapters);
  const std::size_t train_total = base_bf16 + per_adapter + train_acts + scratch;
  const std::size_t score_total = base_bf16 + arenas_pool + score_acts + scratch;
  const std::size_t generate_total = base_bf16 + arenas_pool + kv;
  out["per_rank"] = {
      {"method", "CPU pool measured with 1 and 2 layers (f32 base), linear in layers; base from the bf16 plan"},
      {"device_dtype", "bf16"},
      {"base_bf16_bytes", base_bf16},
      {"lora_params_grads_adamw_bytes", arenas_pool},
      {"lora_per_adapter_bytes", per_adapter},
      {"train", {{"micro_batch", batch}, {"seq", seq}, {"activations_peak_bytes", train_acts}}},
      {"scoring", {{"rows", score_rows}, {"seq", score_seq}, {"activations_peak_bytes", score_acts}}},
      {"cuda_bf16_staging_bytes", scratch},
      {"generation", {{"slots", gen_slots}, {"tokens", gen_tokens}, {"kv_cache_bytes", kv},
                      {"kv_cache_per_sequence_bytes", kv_per_sequence}}},
      {"train_total_bytes", train_total},
      {"scoring_total_bytes", score_total},
      {"generation_total_bytes", generate_total},
      {"measured_seconds", m1.train_seconds + m2.train_seconds}};
  std::printf("%s\n", out.dump().c_str());
  std::fprintf(stderr,
               "%s per rank (bf16 base, LoRA r16; %d adapters for scoring/generation, 1 for training): base %.2f GiB, "
               "LoRA+AdamW %.3f GiB per adapter, training activations "
               "(%d x %d) %.2f GiB, scoring (%d x %d) %.2f GiB, bf16 staging %.3f GiB, KV cache (%d x %d tokens) "
               "%.2f GiB; train %.2f GiB, scoring %.2f GiB, generation %.2f GiB\n",
               shape.c_str(), n_adapters, gib(base_bf16), gib(per_adapter), batch, seq, gib(train_acts), score_rows,
               score_seq, gib(score_acts), gib(scratch), gen_slots, gen_tokens, gib(kv), gib(train_total),
               gib(score_total), gib(generate_total));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pool_memory_bench: %s\n", e.what());
  return 1;
}
