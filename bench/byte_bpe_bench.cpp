// Encode throughput of the byte-level BPE tokenizer (src/model/byte_bpe.h) on
// SmolLM2's vocabulary, single thread:
//   bench_byte_bpe [GGUF] [TEXT_FILE...]
// GGUF ("" or absent) defaults to $PERSONAS_CACHE (or ~/.cache/personas)/models/smollm2/
// SmolLM2-135M-Instruct.Q4_1.gguf. The corpus is the given text files (e.g.
// docs/*.md for English) plus generated MovieLens-style rating prompts in the
// project's `paper` wording (src/train/prompt.cpp), with accented titles.
// Prints MB/s and tokens/s (thread CPU time) for a cold word cache (first
// pass) and a warm one, and the pre-tokenizer alone (pre_tokenize, which also
// copies each word into a std::string).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "io/gguf.h"
#include "model/byte_bpe.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string movie_prompts(std::size_t target_bytes) {
  const char* titles[] = {"Toy Story (1995)", "GoldenEye (1995)", "Cité des enfants perdus, La (1995)",
                          "Misérables, Les (1995)", "Star Wars (1977)", "Jurassic Park (1993)",
                          "Schindler's List (1993)", "Óscar (1967)", "Amélie (2001)", "Heat (1995)",
                          "Casino (1995)", "Twelve Monkeys (1995)", "Babe (1995)", "Dead Man Walking (1995)",
                          "Belle de jour (1967)", "Nénette et Boni (1996)", "Kolya (1996)", "Fargo (1996)"};
  const char* genres[] = {"Animation, Children's, Comedy", "Action, Adventure, Thriller", "Drama",
                          "Comedy, Romance", "Sci-Fi, War", "Crime, Film-Noir", "Documentary", "Horror"};
  const char* memories[] = {"rated 5 because the story still thrills me", "rated 2 because it dragged on",
                            "rated 4 because the actors were wonderful", "rated 3 because it's fine but forgettable",
                            "rated 1 because I couldn't stand the violence"};
  std::mt19937 rng(7);
  std::string out;
  while (out.size() < target_bytes) {
    out += "<|im_start|>system\nYou are a movie viewer in a recommender system. Rate movies exactly as the person "
           "described below would.\n\nPERSONA:\nRates often and generously. Follows the crowd.\nA ";
    out += std::to_string(18 + rng() % 50) + "-year-old viewer who likes " + genres[rng() % 8] + ".<|im_end|>\n";
    out += "<|im_start|>user\nYOUR MEMORIES:\n";
    for (int m = 0; m < 3; ++m) {
      out += std::string("- ") + titles[rng() % 18] + ": " + memories[rng() % 5] + ".\n";
    }
    out += "\nTASK: Based on your persona and memories, rate the movie below on a scale of 1 to 5 (1 = hated it, "
           "5 = loved it). Answer with one digit.\n\nMOVIE: ";
    char average[64];
    std::snprintf(average, sizeof average, "%.1f from %u ratings", 1.0 + (rng() % 400) / 100.0,
                  static_cast<unsigned>(1 + rng() % 600));
    out += std::string(titles[rng() % 18]) + "; genres: " + genres[rng() % 8] + "; average rating " + average +
           "\n\nRATING:<|im_end|>\n<|im_start|>assistant\n" + std::to_string(1 + rng() % 5) + "<|im_end|>\n";
  }
  return out;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// CPU time of this thread: the machine may be shared, and a single-threaded
// rate is what the tokenizer costs per core.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string gguf_path;
    if (argc > 1 && argv[1][0] != 0) {
      gguf_path = argv[1];
    } else {
      const char* cache = std::getenv("PERSONAS_CACHE");
      const char* home = std::getenv("HOME");
      gguf_path = std::string(cache && *cache ? cache : std::string(home ? home : "/root") + "/.cache/personas") +
                  "/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
    }
    const auto t_load = Clock::now();
    const personas::gguf::File f = personas::gguf::File::open(gguf_path);
    personas::ByteBpeData data;
    data.tokens = f.get_string_array("tokenizer.ggml.tokens");
    data.merges = f.get_string_array("tokenizer.ggml.merges");
    for (auto t : f.get_int_array("tokenizer.ggml.token_type")) data.token_types.push_back(static_cast<int>(t));
    data.pre = f.get_string("tokenizer.ggml.pre");
    const personas::ByteBpeTokenizer tok(std::move(data));
    std::printf("load + build: %.3f s (%d tokens, pre %s)\n", seconds_since(t_load), tok.vocab_size(),
                personas::pre_tokenizer_name(tok.pre_tokenizer()));

    std::string english;
    for (int i = 2; i < argc; ++i) {
      std::ifstream in(argv[i], std::ios::binary);
      if (!in) PERSONAS_FAIL(io, "cannot read {}", argv[i]);
      std::ostringstream s;
      s << in.rdbuf();
      english += s.str();
    }
    const std::string prompts = movie_prompts(300 * 1024);
    struct Corpus {
      const char* name;
      const std::string* text;
    };
    const Corpus corpora[] = {{"english (files)", &english}, {"movie prompts", &prompts}};
    for (const Corpus& c : corpora) {
      if (c.text->empty()) continue;
      const double mb = static_cast<double>(c.text->size()) / 1e6;
      // Cold: a fresh tokenizer has an empty word cache on this thread.
      personas::ByteBpeData copy = tok.data();
      const personas::ByteBpeTokenizer fresh(std::move(copy));
      double c0 = thread_cpu_seconds();
      const auto ids = fresh.encode(*c.text);
      const double cold = thread_cpu_seconds() - c0;
      const int reps = 5;
      std::size_t n_ids = 0;
      const auto t0 = Clock::now();
      c0 = thread_cpu_seconds();
      for (int r = 0; r < reps; ++r) n_ids += fresh.encode(*c.text).size();
      const double warm = (thread_cpu_seconds() - c0) / reps;
      const double warm_wall = seconds_since(t0) / reps;
      c0 = thread_cpu_seconds();
      std::size_t n_words = 0;
      for (int r = 0; r < reps; ++r) n_words += fresh.pre_tokenize(*c.text).size();
      const double split = (thread_cpu_seconds() - c0) / reps;
      if (fresh.decode(ids, false) != *c.text) std::printf("  (decode differs from the text: dropped bytes?)\n");
      std::printf("%-16s %7.1f KB %7zu tokens | CPU time: cold cache %5.1f MB/s %8.0f tok/s, warm %5.1f MB/s %8.0f "
                  "tok/s (wall %5.1f MB/s) | pre-tokenizer alone %5.1f MB/s (%zu words)\n",
                  c.name, static_cast<double>(c.text->size()) / 1024, ids.size(), mb / cold, ids.size() / cold,
                  mb / warm, static_cast<double>(n_ids) / reps / warm, mb / warm_wall, mb / split, n_words / reps);
    }
    return 0;
  } catch (const personas::Error& e) {
    std::fprintf(stderr, "bench_byte_bpe: %s\n", e.what());
    return e.exit_code();
  }
}
