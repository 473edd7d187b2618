// Prefix-shared agent scoring (issue 20): one user with 20 test items rated in
// expected mode (P(1..5) at the answer position) with eval.prefix_sharing on
// (the prompts' common prefix, system turn with persona and profile, run once;
// the items as continuations of its KV cache) and off (every prompt whole),
// side by side in one run, alternating, on the same model, prompts and adapter.
//
//   bench_prefix_bench [--shape tiny|small|smollm2] [--items 20] [--profile-words 150] [--reps 3] [--threads T]
//
// The tokenizer is a SentencePiece model trained here (vocab 1000, Phi-3 chat
// tokens); the model is the shape's, random, with one random LoRA adapter on
// q and k. Prints one JSON line per measurement and the largest difference of
// the expected ratings between the two ways.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/host_threads.h"
#include "core/fs.h"
#include "eval/agent_scoring.h"
#include "core/choice_names.h"
#include "model/init_model.h"
#include "process_cpu.h"
#include "train/rating_tokens.h"

using namespace personas;

namespace {

std::string arg(int argc, char** argv, const char* name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

const char* kWords[] = {"comedy", "drama", "warm", "slow", "dark", "clever", "story", "actors", "music", "ending",
                        "nineties", "classic", "romance", "action", "thriller", "funny", "long", "quiet", "loud", "old"};

std::string words(std::mt19937_64& rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i > 0) s += ' ';
    s += kWords[rng() % 20];
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string shape = arg(argc, argv, "--shape", "tiny");
  const int n_items = std::stoi(arg(argc, argv, "--items", "20"));
  const int profile_words = std::stoi(arg(argc, argv, "--profile-words", "150"));
  const int reps = std::stoi(arg(argc, argv, "--reps", "3"));
  const int threads = std::stoi(arg(argc, argv, "--threads", "0"));
  if (threads > 0) set_host_threads(threads);

  const fs::path corpus = fs::temp_directory_path() / "prefix-bench-corpus.txt";
  {
    std::ofstream out(corpus);
    std::mt19937_64 rng(1);
    for (int i = 0; i < 400; ++i)
      out << "I rated Movie " << i % 50 << " as " << 1 + i % 5 << " because " << words(rng, 12) << ".\n"
          << "PERSONA: YOUR MEMORIES: TASK: Based on your persona and memories, rate the movie below on a scale of 1 "
             "to 5 (1 = hated it, 5 = loved it). Answer with one digit. MOVIE: genres average rating from ratings "
             "RATING:\n";
  }
  SentencePieceTrainOptions so;
  so.vocab_size = 1000;
  const Tokenizer tokenizer(trained_tokenizer_data(train_sentencepiece(corpus, so)));
  fs::remove(corpus);
  Phi3Config c;
  if (shape == "smollm2") {  // SmolLM2-135M's shape (the vocabulary is the tokenizer's: only 5 lm_head rows are read)
    c.hidden_size = 576;
    c.intermediate_size = 1536;
    c.num_hidden_layers = 30;
    c.num_attention_heads = 9;
    c.num_key_value_heads = 3;
    c.max_position_embeddings = 8192;
    c.rope_theta = 100000.0;
    c.tie_word_embeddings = true;
    c.vocab_size = (tokenizer.vocab_size() + 63) / 64 * 64;
  } else {
    c = preset_config(parse_choice(model_preset_names(), shape, "--shape", ErrorKind::usage), tokenizer.vocab_size());
  }
  c.bos_token_id = tokenizer.bos_id();
  c.eos_token_id = tokenizer.eos_id();
  c.pad_token_id = tokenizer.pad_id() >= 0 ? tokenizer.pad_id() : 0;
  CpuBackend backend;
  LoraModel model(random_weights(c, 3, 0.05), backend, LoraSpec{}, 1);
  {
    std::mt19937_64 rng(9);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    std::vector<float> p(static_cast<std::size_t>(model.adapter(0).n_params()));
    for (auto& v : p) v = dist(rng);
    model.adapter(0).from_host(0, p);
  }

  // One user: 30 training ratings with notes, n_items test ratings.
  Dataset data;
  data.source = "bench";
  data.genre_names = {"Action", "Comedy", "Drama", "Horror", "Romance"};
  std::mt19937_64 rng(4);
  for (int i = 0; i < 30 + n_items; ++i)
    data.items.push_back({1000 + i, "Movie " + std::to_string(i), 1960 + i % 50, 1u << (i % 5), 3.0 + (i % 4) * 0.3, 10 + i});
  User user;
  user.id = 1;
  user.n_train = 30;
  user.n_test = n_items;
  UserMemory memory;
  memory.user_id = 1;
  memory.activity = "I watch movies every week and rate most of them.";
  memory.conformity = "My ratings are close to what others give.";
  memory.diversity = "I like a few genres and stay with them.";
  memory.profile = "I ";
  memory.profile += words(rng, std::max(0, profile_words - 1));
  for (int i = 0; i < 30 + n_items; ++i) {
    const float rating = static_cast<float>(1 + rng() % 5);
    data.interactions.push_back({i, rating, 1000 + i});
    if (i < 30)
      memory.notes.push_back({i, rating, "I rated Movie " + std::to_string(i) + " as " +
                                             std::to_string(static_cast<int>(rating)) + " because " + words(rng, 14) + "."});
  }
  data.users = {user};
  data.n_users_total = 1;
  const ItemVectors vectors = item_vectors_from_features(data);

  AgentScoringOptions options;
  options.mode = AgentMode::expected;
  options.batch_rows = 16;
  options.sample.style = PromptStyle::paper;
  options.sample.retrieve_k = 1;
  options.sample.max_len = static_cast<int>(std::min<std::int64_t>(4096, c.max_position_embeddings));
  ChatTemplateEncoder encoder(tokenizer);
  // The token work of the two ways: every prompt whole, or the common prefix once plus each item's rest.
  std::vector<std::vector<std::int32_t>> prompts;
  for (const auto& x : data.test_of(data.users[0]))
    prompts.push_back(build_eval_prompt(data, data.users[0], memory, vectors, encoder, options.sample, x.item).ids);
  std::size_t common = prompts.front().size(), total = 0;
  for (const auto& p : prompts) {
    common = std::min<std::size_t>(common, std::mismatch(prompts.front().begin(), prompts.front().end(), p.begin(), p.end()).first - prompts.front().begin());
    total += p.size();
  }
  const double shared_tokens = static_cast<double>(common + total - common * prompts.size());
  std::printf("{\"measure\": \"prompts\", \"shape\": \"%s\", \"parameters\": %lld, \"items\": %d, "
              "\"prompt_tokens_mean\": %.1f, \"shared_prefix_tokens\": %zu, \"suffix_tokens_mean\": %.1f, "
              "\"token_ratio\": %.2f, \"threads\": %d}\n",
              shape.c_str(), static_cast<long long>(c.n_parameters()), n_items,
              static_cast<double>(total) / static_cast<double>(prompts.size()), common,
              static_cast<double>(total) / static_cast<double>(prompts.size()) - static_cast<double>(common),
              static_cast<double>(total) / shared_tokens, omp_get_max_threads());
  std::fflush(stdout);

  const std::vector<int> adapter_of_user = {0};
  double seconds[2] = {0, 0}, cpu[2] = {0, 0}, max_diff = 0;
  std::vector<AgentRating> last[2];
  for (int rep = 0; rep < reps; ++rep)
    for (int sharing = 1; sharing >= 0; --sharing) {
      options.prefix_sharing = sharing == 1;
      const auto t0 = std::chrono::steady_clock::now();
      const double c0 = process_cpu_seconds();
      last[sharing] = rate_test_items(model, tokenizer, data, {memory}, vectors, adapter_of_user, options);
      seconds[sharing] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      cpu[sharing] += process_cpu_seconds() - c0;
    }
  for (std::size_t i = 0; i < last[0].size(); ++i)
    max_diff = std::max(max_diff, std::fabs(last[0][i].predicted - last[1][i].predicted));
  for (int sharing = 1; sharing >= 0; --sharing) {
    const double n = static_cast<double>(reps) * n_items;
    std::printf("{\"measure\": \"agent scoring, %s\", \"ratings\": %.0f, \"seconds\": %.3f, \"ratings_per_s\": %.2f, "
                "\"cpu_seconds\": %.3f, \"ratings_per_cpu_s\": %.2f}\n",
                sharing ? "prefix sharing" : "whole prompts", n, seconds[sharing], n / seconds[sharing], cpu[sharing],
                n / cpu[sharing]);
  }
  std::printf("{\"measure\": \"ratio\", \"prefix_over_whole_wall\": %.2f, \"prefix_over_whole_cpu\": %.2f, "
              "\"max_abs_expected_rating_difference\": %.3g}\n",
              seconds[0] / seconds[1], cpu[0] / cpu[1], max_diff);
  return max_diff < 1e-4 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_prefix_bench: %s\n", e.what());
  return 1;
}
