// personas init-model --preset tiny|small|phi3-mini --seed S --out m.h5
//                     [--tokenizer-corpus FILE [--tokenizer-vocab N] | --tokenizer FILE.model] [--dtype f32|bf16]
#include "cli/command.h"
#include "core/choice_names.h"
#include "core/errors.h"
#include "core/log.h"
#include "model/checkpoint.h"
#include "model/init_model.h"
#include "model/tokenizer.h"

namespace personas {

namespace po = boost::program_options;

namespace {

int run_init_model(CommandContext& ctx) {
  if (!ctx.comm.is_root()) return 0;
  const auto& args = ctx.args;
  PERSONAS_CHECK_HINT(args.count("out"), usage, "personas init-model --preset tiny --seed 1 --out m.h5 "
                                                "--tokenizer-corpus corpus.txt",
                      "init-model needs --out FILE");
  const ModelPreset preset = parse_choice(model_preset_names(), args["preset"].as<std::string>(), "--preset", ErrorKind::usage);
  const auto seed = args["seed"].as<std::uint64_t>();
  const fs::path out = args["out"].as<std::string>();
  PERSONAS_CHECK(args.count("tokenizer-corpus") + args.count("tokenizer") == 1, usage,
                 "init-model needs exactly one of --tokenizer-corpus FILE (train a SentencePiece model here) or "
                 "--tokenizer FILE.model");

  TokenizerData tokenizer;
  if (args.count("tokenizer")) {
    tokenizer = tokenizer_data_from_model_file(
        args["tokenizer"].as<std::string>(),
        parse_choice(sentencepiece_added_names(), args["tokenizer-added"].as<std::string>(), "--tokenizer-added", ErrorKind::usage));
  } else {
    SentencePieceTrainOptions options;
    options.vocab_size = args["tokenizer-vocab"].as<int>();
    const fs::path corpus = args["tokenizer-corpus"].as<std::string>();
    plog::info("training a {}-piece SentencePiece tokenizer on {}", options.vocab_size, corpus.string());
    tokenizer = trained_tokenizer_data(train_sentencepiece(corpus, options));
  }
  Tokenizer tok(tokenizer);
  Phi3Config config = preset_config(preset, tok.vocab_size());
  config.bos_token_id = tokenizer.bos_id;
  config.eos_token_id = tokenizer.eos_id;
  config.pad_token_id = tokenizer.pad_id >= 0 ? tokenizer.pad_id : tokenizer.eos_id;
  config.validate("init-model --preset " + model_preset_word(preset));

  const std::string dtype_arg = args["dtype"].as<std::string>();
  const auto dtype = dtype_arg == "auto" ? preset_storage_dtype(preset) : parse_storage_dtype(dtype_arg);
  const std::string dtype_name = storage_dtype_name(dtype);
  plog::info("random {} model: hidden {}, {} layers, {} heads ({} kv), vocab {}, {:.2f} M parameters, seed {}",
             model_preset_word(preset), config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
             config.num_key_value_heads, config.vocab_size, static_cast<double>(config.n_parameters()) / 1e6, seed);
  auto weights = random_weights(config, seed);
  save_checkpoint(out, weights, tokenizer, dtype);
  plog::info("wrote {} ({}, {:.1f} MB)", out.string(), dtype_name, static_cast<double>(fs::file_size(out)) / 1e6);
  return 0;
}

}  // namespace

Command make_init_model_command() {
  Command c;
  c.name = "init-model";
  c.summary = "random checkpoint of a named shape (tiny: the quickstart's model)";
  c.uses_run_dir = false;
  c.add_options = [](po::options_description& o) {
    o.add_options()("preset", po::value<std::string>()->default_value("tiny"),
                    "shape: tiny (CPU quickstart), small (CPU benchmark), phi3-mini (the real Phi-3-mini shape)")(
        "seed", po::value<std::uint64_t>()->default_value(0), "seed of the random weights")(
        "out", po::value<std::string>(), "output checkpoint (.h5)")(
        "tokenizer-corpus", po::value<std::string>(),
        "UTF-8 text file (one sentence per line) to train a SentencePiece tokenizer on; no download needed")(
        "tokenizer-vocab", po::value<int>()->default_value(1000), "pieces of the trained tokenizer")(
        "tokenizer", po::value<std::string>(),
        "an existing SentencePiece .model")(
        "tokenizer-added", po::value<std::string>()->default_value("auto"),
        "added tokens of --tokenizer: phi3 (Phi-3's, for its tokenizer.model), chat (a personas-trained one), none, "
        "or auto (chat when the file has those symbols, else none)")(
        "dtype", po::value<std::string>()->default_value("auto"), "stored dtype: auto (the preset's: bf16 for phi3-mini, f32 otherwise), bf16, f32");
  };
  c.run = run_init_model;
  return c;
}

}  // namespace personas
