// Memory per rank from the backend's own pool accounting (issue 19), on the
// CPU backend: the pool (backend/caching_allocator.h) is the same code with
// the same size classes as on the GPU, and the model allocates the same
// buffers on either backend (fp32 activations), so these are the GPU pool's
// figures less CUDA's scratch (GEMM conversion, attention, LoRA dt buffers).
//
//   bench_pool_memory_bench --shape phi3-mini|smollm2-135m [--layers L] [--batch 2] [--seq 1024]
//                           [--score-rows 64] [--score-seq 256] [--adapters 8]
//
// Prints one JSON object: the base's pool bytes for the whole model (all
// layers) in f32 and in bf16 computed from the size classes (no allocation);
// then, measured with --layers L (default: all), the pool after the upload,
// the peak of one LoRA training step (r16, every linear; forward, backward,
// norm, clip, AdamW) over batch x seq tokens, and the peak of scoring
// score-rows rows of score-seq tokens with a mixed-persona batch.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "backend/cpu/cpu_backend.h"
#include "model/checkpoint.h"
#include "model/init_model.h"
#include "model/lora_model.h"

using namespace personas;

namespace {

Phi3Config shape_config(const std::string& shape) {
  if (shape == "phi3-mini") return preset_config("phi3-mini", 32000);
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

}  // namespace

int main(int argc, char** argv) try {
  std::string shape = "smollm2-135m";
  int layers = 0, batch = 2, seq = 1024, score_rows = 64, score_seq = 256, n_adapters = 8;
  for (int a = 1; a + 1 < argc; a += 2) {
    const std::string key = argv[a], value = argv[a + 1];
    if (key == "--shape") shape = value;
    else if (key == "--layers") layers = std::stoi(value);
    else if (key == "--batch") batch = std::stoi(value);
    else if (key == "--seq") seq = std::stoi(value);
    else if (key == "--score-rows") score_rows = std::stoi(value);
    else if (key == "--score-seq") score_seq = std::stoi(value);
    else if (key == "--adapters") n_adapters = std::stoi(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", key.c_str());
      return 2;
    }
  }
  Phi3Config config = shape_config(shape);
  CpuBackend cpu;
  CachingAllocator sizes([](std::size_t) -> void* { return nullptr; }, [](void*, std::size_t) {});
  std::size_t base_f32 = 0, base_bf16 = 0;
  for (const auto& t : expected_tensors(config)) {
    std::int64_t n = 1;
    for (auto d : t.shape) n *= d;
    base_f32 += sizes.block_size(static_cast<std::size_t>(n) * 4);
    base_bf16 += sizes.block_size(static_cast<std::size_t>(n) * 2);
  }
  nlohmann::json out = {{"shape", shape},
                        {"full_layers", config.num_hidden_layers},
                        {"pool_base_f32_bytes", base_f32},
                        {"pool_base_bf16_bytes", base_bf16}};
  if (layers > 0) config.num_hidden_layers = layers;

  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                  LoraTarget::down_proj};
  spec.rank = 16;
  spec.alpha = 32.0f;
  std::unique_ptr<LoraModel> model;
  {
    const ModelWeights weights = random_weights(config, 1);
    model = std::make_unique<LoraModel>(weights, cpu, spec, n_adapters);
  }
  for (int a = 0; a < n_adapters; ++a) model->adapter(a).initialize(static_cast<std::uint64_t>(3 + a));
  const MemoryStats loaded = cpu.memory_stats();

  const auto t0 = std::chrono::steady_clock::now();
  cpu.reset_peak_memory();
  model->set_training(true);
  model->set_step(1);
  const TokenBatch tb = random_batch(config, batch, seq, seq / 2, 2);
  model->adapter(0).zero_grads();
  const double loss = model->forward_backward(tb).mean();
  const double norm = std::sqrt(cpu.sum_squares(model->adapter(0).grads()));
  if (norm > 1.0) cpu.scale(model->adapter(0).grads(), static_cast<float>(1.0 / norm));
  model->adapter(0).adamw_step(AdamWParams{});
  const MemoryStats train = cpu.memory_stats();
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

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
  const MemoryStats scoring = cpu.memory_stats();

  out["measured_layers"] = config.num_hidden_layers;
  out["adapters"] = n_adapters;
  out["lora"] = "r16 q,k,v,o,gate_up,down";
  out["pool_after_load_bytes"] = loaded.current_bytes;
  out["train"] = {{"batch", batch},
                  {"seq", seq},
                  {"loss", loss},
                  {"seconds", train_seconds},
                  {"peak_bytes", train.peak_bytes},
                  {"peak_above_load_bytes", train.peak_bytes - loaded.current_bytes},
                  {"raw_allocations", train.raw_allocations}};
  out["scoring"] = {{"rows", score_rows},
                    {"seq", score_seq},
                    {"peak_bytes", scoring.peak_bytes},
                    {"peak_above_load_bytes", scoring.peak_bytes - loaded.current_bytes}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "pool_memory_bench: %s\n", e.what());
  return 1;
}
