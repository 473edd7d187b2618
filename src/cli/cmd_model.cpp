// `personas model` (the pipeline's model stage): settles which frozen base
// model the later stages use.
//   model.path set   -> checks that checkpoint loads (config, tokenizer) and logs its shape.
//   model.path empty -> makes RUN/model/base.h5: a SentencePiece tokenizer
//                       trained on this run's own texts (distilled profiles and
//                       notes of at most 20,000 sampled users, item lines, the
//                       prompt words) and a random model of model.preset,
//                       seeded from run.seed. Nothing is downloaded.
#include <fstream>

#include "cli/stage_command.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/strings.h"
#include "data/dataset_io.h"
#include "data/rng.h"
#include "distill/memories.h"
#include "model/checkpoint.h"
#include "model/init_model.h"
#include "model/tokenizer.h"
#include "core/seed_salts.h"

namespace personas {
namespace {

// Users whose distilled texts train the tokenizer (all of them in smaller runs).
constexpr std::int64_t kTokenizerSampleUsers = 20000;

// Words every prompt uses (train/prompt.cpp's sections), so they get whole pieces.
constexpr const char* kPromptWords =
    "PERSONA YOUR MEMORIES TASK MOVIE SUMMARY RATING: Rate the movie from 1 to 5 and answer with one digit.\n"
    "1\n2\n3\n4\n5\nI rated it as 1 2 3 4 5 because historical average rating genres year title\n";

// This rank's share of the corpus: one sentence per line.
std::string corpus_lines(const Dataset& data, const std::vector<UserMemory>& memories, bool with_items) {
  std::string out;
  auto add = [&](std::string_view text) {
    for (auto line : split_lines(text)) {
      auto t = trim(line);
      if (!t.empty()) {
        out.append(t);
        out.push_back('\n');
      }
    }
  };
  for (const auto& m : memories) {
    add(m.activity);
    add(m.conformity);
    add(m.diversity);
    add(m.profile);
    for (const auto& note : m.notes) add(note.text);
  }
  if (with_items) {
    for (const auto& item : data.items) {
      std::string genres;
      for (std::size_t g = 0; g < data.genre_names.size(); ++g)
        if (item.genres & (1u << g)) genres += (genres.empty() ? "" : ", ") + data.genre_names[g];
      add(fmt::format("{} ({}) {}", item.title, item.year, genres));
    }
    add(kPromptWords);
  }
  return out;
}

void make_model(CommandContext& ctx, const fs::path& out) {
  auto run = ctx.run_dir();
  auto& comm = ctx.comm;
  const auto& cfg = ctx.config.model;
  std::string corpus;
  if (cfg.tokenizer.empty()) {
    // A seeded sample of at most kTokenizerSampleUsers users by selection
    // index (the same for any rank count; every user of a smaller run), so
    // the stage stays bounded at millions of users: the text of every user
    // reached 8 KB per user on rank 0. The trainer reads the first
    // SentencePieceTrainOptions::input_sentence_size lines of the corpus anyway.
    const Dataset data = load_dataset_items(run);
    const std::int64_t n_total = data.n_users_total;
    const auto seed = static_cast<std::uint64_t>(ctx.config.run.seed);
    auto keep = [&](std::int64_t index) {
      return n_total <= kTokenizerSampleUsers ||
             derive_seed(seed, "tokenizer-sample", static_cast<std::uint64_t>(index)) %
                     static_cast<std::uint64_t>(n_total) <
                 static_cast<std::uint64_t>(kTokenizerSampleUsers);
    };
    auto memories = load_memories(run, comm, keep);
    auto mine = corpus_lines(data, memories, comm.is_root());
    auto parts = comm.allgatherv(std::as_bytes(std::span(mine.data(), mine.size())));
    for (const auto& part : parts) corpus.append(reinterpret_cast<const char*>(part.data()), part.size());
  }
  if (!comm.is_root()) return;

  TokenizerData tokenizer;
  if (!cfg.tokenizer.empty()) {
    tokenizer = tokenizer_data_from_model_file(cfg.tokenizer,
                                               cfg.tokenizer_added);
  } else {
    auto corpus_path = run.ensure_stage_dir("model") / "tokenizer-corpus.txt";
    write_file_atomic(corpus_path, corpus);
    SentencePieceTrainOptions options;
    options.vocab_size = cfg.tokenizer_vocab;
    plog::info("model: training a {}-piece SentencePiece tokenizer on {} lines of this run's text",
               options.vocab_size, std::count(corpus.begin(), corpus.end(), '\n'));
    tokenizer = trained_tokenizer_data(train_sentencepiece(corpus_path, options));
  }
  Tokenizer tok(tokenizer);
  Phi3Config config = preset_config(cfg.preset, tok.vocab_size());
  config.bos_token_id = tokenizer.bos_id;
  config.eos_token_id = tokenizer.eos_id;
  config.pad_token_id = tokenizer.pad_id >= 0 ? tokenizer.pad_id : tokenizer.eos_id;
  config.validate("model.preset " + model_preset_word(cfg.preset));
  const auto seed = static_cast<std::uint64_t>(ctx.config.run.seed) * seed_salt::kModelWeightsMul + seed_salt::kModelWeightsAdd;
  auto weights = random_weights(config, seed);
  save_checkpoint(out, weights, tokenizer, preset_storage_dtype(cfg.preset));
  plog::info("model: random {} model (hidden {}, {} layers, vocab {}, {:.2f} M parameters) -> {}", model_preset_word(cfg.preset),
             config.hidden_size, config.num_hidden_layers, config.vocab_size,
             static_cast<double>(config.n_parameters()) / 1e6, out.string());
}

}  // namespace

void model_body(CommandContext& ctx) {
  auto run = ctx.run_dir();
  const auto checkpoint = ctx.config.model.checkpoint(run.root());
  if (!ctx.config.model.path.empty()) {
    PERSONAS_CHECK_HINT(fs::exists(checkpoint), io, "make one with `personas convert` or leave model.path empty",
                        "model.path '{}' does not exist", checkpoint.string());
    auto config = load_checkpoint_config(checkpoint);
    Tokenizer tok(load_checkpoint_tokenizer(checkpoint));
    plog::info("model: {} (hidden {}, {} layers, vocab {}, tokenizer {} pieces)", checkpoint.string(),
               config.hidden_size, config.num_hidden_layers, config.vocab_size, tok.vocab_size());
  } else {
    make_model(ctx, checkpoint);
  }
}

Command make_model_command() {
  return make_stage_command(
      {"model", "model",
       "settle the base model: check model.path, or make a tiny one with a tokenizer trained on the run",
       model_body});
}

}  // namespace personas
