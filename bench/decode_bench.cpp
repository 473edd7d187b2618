// Batched decoding speed (issue 20): generated tokens per second at batch 1,
// 8, 32 (LoraModel::generate_batch, equal prompts started together, so each
// step decodes the whole batch), the decode steps alone (the prefill of the
// same requests, timed with one new token, subtracted), next to this
// machine's copy bandwidth (batch 1 is bound by reading every weight once per
// token) and sgemm rate (batch 32 is a matmul of 32 rows); then the local
// distillation client answering scaffold chats one sequence at a time
// (max_batch 1, what it did before) and batched. Side by side in one run.
//
//   bench_decode_bench [--shape tiny|small|smollm2] [--model FILE.h5] [--prompt 32] [--new 16]
//                      [--batches 1,8,32] [--chats 16] [--threads T]
//
// smollm2 is SmolLM2-135M's shape (hidden 576, 30 layers, 9 heads over 3 kv
// heads, intermediate 1536, vocab 49152, tied) with random weights; --model
// runs a checkpoint instead. Prints one JSON line per measurement.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/host_threads.h"
#include "core/fs.h"
#include "distill/local_chat_client.h"
#include "model/checkpoint.h"
#include "model/device_buffer.h"
#include "core/choice_names.h"
#include "model/init_model.h"
#include "model/lora_model.h"
#include "model/tokenizer.h"
#include "process_cpu.h"

using namespace personas;

namespace {

struct Clock {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu = process_cpu_seconds();
  double wall_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count(); }
  double cpu_s() const { return process_cpu_seconds() - cpu; }
};

std::string arg(int argc, char** argv, const char* name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

Phi3Config shape_config(const std::string& shape) {
  if (shape != "smollm2") return preset_config(parse_choice(model_preset_names(), shape, "--shape", ErrorKind::usage), 1000);
  Phi3Config c;
  c.vocab_size = 49152;
  c.hidden_size = 576;
  c.intermediate_size = 1536;
  c.num_hidden_layers = 30;
  c.num_attention_heads = 9;
  c.num_key_value_heads = 3;
  c.max_position_embeddings = 8192;
  c.rope_theta = 100000.0;
  c.tie_word_embeddings = true;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.pad_token_id = 2;
  return c;
}

// Weights read per decoded token: every linear layer and the lm_head (f32).
double weight_bytes_per_token(const Phi3Config& c) {
  const double h = static_cast<double>(c.hidden_size), kv = static_cast<double>(c.kv_dim()),
               f = static_cast<double>(c.intermediate_size);
  const double per_layer = h * (h + 2 * kv) + h * h + 2 * f * h + f * h;
  return 4.0 * (per_layer * static_cast<double>(c.num_hidden_layers) + static_cast<double>(c.vocab_size) * h);
}

double copy_bandwidth_gbs() {
  std::vector<char> a(std::size_t{256} << 20, 1), b(a.size());
  std::memcpy(b.data(), a.data(), a.size());  // first touch
  Clock clock;
  const int reps = 4;
  for (int r = 0; r < reps; ++r) std::memcpy((r % 2 ? a : b).data(), (r % 2 ? b : a).data(), a.size());
  return 2.0 * reps * static_cast<double>(a.size()) / clock.wall_s() / 1e9;  // read + write
}

double sgemm_gflops(Backend& backend, std::int64_t m, std::int64_t n, std::int64_t k) {
  DeviceBuffer x(backend, m, k), w(backend, n, k), y(backend, m, n);
  backend.fill_zero(x);
  backend.fill_zero(w);
  backend.matmul(x, false, w, true, y, 1.0f, 0.0f);
  Clock clock;
  int reps = 0;
  while (clock.wall_s() < 1.0 || reps < 3) {
    backend.matmul(x, false, w, true, y, 1.0f, 0.0f);
    ++reps;
  }
  return 2.0 * static_cast<double>(m * n * k) * reps / clock.wall_s() / 1e9;
}

std::vector<GenerateRequest> requests_for(const Phi3Config& c, int n, int prompt, int new_tokens) {
  std::mt19937_64 rng(7);
  std::vector<GenerateRequest> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto& r = out[static_cast<std::size_t>(i)];
    r.prompt.push_back(static_cast<std::int32_t>(c.bos_token_id));
    while (static_cast<int>(r.prompt.size()) < prompt)
      r.prompt.push_back(static_cast<std::int32_t>(3 + rng() % static_cast<std::uint64_t>(c.vocab_size - 3)));
    r.max_new_tokens = new_tokens;
    r.sampling.temperature = 0.8f;
    r.sampling.seed = static_cast<std::uint64_t>(i);
  }
  return out;
}

// Local distillation: scaffold chats (2 notes + profile each) on a tiny
// random checkpoint with a trained tokenizer, one sequence at a time and batched.
void local_chats(int n_chats, const fs::path& work) {
  const fs::path corpus = work / "decode-bench-corpus.txt";
  {
    std::ofstream out(corpus);
    const char* lines[] = {"I rated this movie 4 stars because the story is warm and funny.",
                           "Because I love action movies from the nineties, I gave it 5 stars.",
                           "I dislike horror; dark and slow films rarely work for me.",
                           "My profile: I enjoy comedy and drama, and I rate higher than most viewers."};
    for (int rep = 0; rep < 40; ++rep)
      for (auto* l : lines) out << l << " " << rep << "\n";
  }
  SentencePieceTrainOptions so;
  so.vocab_size = 400;
  const Tokenizer tokenizer(trained_tokenizer_data(train_sentencepiece(corpus, so)));
  fs::remove(corpus);
  Phi3Config c = preset_config(ModelPreset::tiny, tokenizer.vocab_size());
  c.bos_token_id = tokenizer.bos_id();
  c.eos_token_id = tokenizer.eos_id();
  c.pad_token_id = tokenizer.pad_id() >= 0 ? tokenizer.pad_id() : 0;
  CpuBackend backend;
  LoraModel model(random_weights(c, 11, 0.5), backend, LoraSpec{}, 1);
  std::vector<std::vector<std::string>> answers(2);
  for (int batch : {1, 16}) {
    LocalChatOptions o;
    o.model_name = "tiny";
    o.max_batch = batch;
    LocalChatClient client(model, tokenizer, o);
    for (int i = 0; i < n_chats; ++i) {
      ChatOptions co;
      co.temperature = 0.7;
      co.seed = 5;
      co.shape = {true, 2, {}};
      client.chat_async({{"system", "You write the memories of one movie viewer."},
                         {"user", "I am viewer " + std::to_string(i) + ". Say why I rated Movie 1 four stars and Movie 2 two "
                                  "stars, then my profile."}},
                        co, [&, batch](ChatResult&& r) { answers[batch == 1 ? 0 : 1].push_back(r.text); });
    }
    Clock clock;
    client.run();
    const double wall = clock.wall_s(), cpu = clock.cpu_s();
    const auto tokens = static_cast<double>(client.usage().completion_tokens);
    std::printf("{\"measure\": \"local distill chats\", \"max_batch\": %d, \"chats\": %d, \"completion_tokens\": %.0f, "
                "\"seconds\": %.3f, \"tokens_per_s\": %.1f, \"cpu_seconds\": %.3f, \"tokens_per_cpu_s\": %.1f}\n",
                batch, n_chats, tokens, wall, tokens / wall, cpu, tokens / cpu);
    std::fflush(stdout);
  }
  std::sort(answers[0].begin(), answers[0].end());
  std::sort(answers[1].begin(), answers[1].end());
  std::printf("{\"check\": \"batched chats give the sequential answers\", \"equal\": %s}\n",
              answers[0] == answers[1] ? "true" : "false");
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string shape = arg(argc, argv, "--shape", "tiny"), model_path = arg(argc, argv, "--model", "");
  const int prompt = std::stoi(arg(argc, argv, "--prompt", "32")), new_tokens = std::stoi(arg(argc, argv, "--new", "16"));
  const int threads = std::stoi(arg(argc, argv, "--threads", "0")), chats = std::stoi(arg(argc, argv, "--chats", "16"));
  std::vector<int> batches;
  {
    std::stringstream ss(arg(argc, argv, "--batches", "1,8,32"));
    for (std::string b; std::getline(ss, b, ',');) batches.push_back(std::stoi(b));
  }
  if (threads > 0) set_host_threads(threads);
  CpuBackend backend;
  ModelWeights weights = model_path.empty() ? random_weights(shape_config(shape), 3) : load_checkpoint(model_path).weights;
  const Phi3Config c = weights.config;
  LoraModel model(weights, backend, LoraSpec{}, 1);
  weights = {};
  const double bandwidth = copy_bandwidth_gbs();
  const double bytes = weight_bytes_per_token(c);
  const double sgemm = sgemm_gflops(backend, 256, 2 * c.intermediate_size, c.hidden_size);
  const double flops_per_token = bytes / 2.0;  // 2 flops per f32 weight
  std::printf("{\"measure\": \"machine\", \"shape\": \"%s\", \"parameters\": %lld, \"threads\": %d, "
              "\"copy_gb_per_s\": %.2f, \"weight_mb_per_token\": %.1f, \"bandwidth_bound_tokens_per_s\": %.1f, "
              "\"sgemm_gflops\": %.2f}\n",
              model_path.empty() ? shape.c_str() : model_path.c_str(), static_cast<long long>(c.n_parameters()),
              omp_get_max_threads(), bandwidth, bytes / 1e6, bandwidth * 1e9 / bytes, sgemm);
  std::fflush(stdout);
  for (int batch : batches) {
    auto requests = requests_for(c, batch, prompt, new_tokens);
    BatchGenerateOptions o;
    o.max_batch = batch;
    auto prefill_only = requests;
    for (auto& r : prefill_only) r.max_new_tokens = 1;
    Clock p;
    model.generate_batch(prefill_only, o);
    const double prefill_s = p.wall_s();
    Clock clock;
    const auto out = model.generate_batch(requests, o);
    const double wall = clock.wall_s(), cpu = clock.cpu_s();
    double tokens = 0;
    for (const auto& t : out) tokens += static_cast<double>(t.size());
    const double decode_tokens = tokens - batch, decode_s = std::max(1e-9, wall - prefill_s);
    const double decode_rate = decode_tokens / decode_s;
    std::printf("{\"measure\": \"batched decode\", \"batch\": %d, \"prompt\": %d, \"new\": %d, \"tokens\": %.0f, "
                "\"seconds\": %.3f, \"tokens_per_s\": %.1f, \"cpu_seconds\": %.3f, \"prefill_seconds\": %.3f, "
                "\"decode_tokens_per_s\": %.1f, \"of_bandwidth_bound\": %.3f, \"decode_gflops\": %.2f, "
                "\"of_sgemm\": %.3f}\n",
                batch, prompt, new_tokens, tokens, wall, tokens / wall, cpu, prefill_s, decode_rate,
                decode_rate / (bandwidth * 1e9 / bytes), decode_rate * flops_per_token / 1e9,
                decode_rate * flops_per_token / 1e9 / sgemm);
    std::fflush(stdout);
  }
  if (chats > 0) local_chats(chats, fs::temp_directory_path());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_decode_bench: %s\n", e.what());
  return 1;
}
