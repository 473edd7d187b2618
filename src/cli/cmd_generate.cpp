// personas generate --model m.h5 [--adapter a.h5] --prompt TEXT --max-tokens N
//                   --temperature T [--top-p P] [--top-k K] [--seed S] [--chat] [--print-ids]
// Prints the continuation of the prompt as it is generated (rank 0 only).
#include <cstdio>
#include <iostream>

#include "backend/backend.h"
#include "cli/command.h"
#include "core/errors.h"
#include "core/log.h"
#include "model/checkpoint.h"
#include "model/lora_model.h"
#include "model/tokenizer.h"
#include "train/adapter_export.h"

namespace personas {

namespace po = boost::program_options;

namespace {

int run_generate(CommandContext& ctx) {
  if (!ctx.comm.is_root()) return 0;
  const auto& args = ctx.args;
  PERSONAS_CHECK_HINT(args.count("model"), usage, "personas generate --model m.h5 --prompt \"Once upon a time\"",
                      "generate needs --model FILE.h5");
  const fs::path model_path = args["model"].as<std::string>();
  Checkpoint checkpoint = load_checkpoint(model_path);
  Tokenizer tokenizer(checkpoint.tokenizer);
  const Phi3Config config = checkpoint.weights.config;

  auto backend = make_backend(ctx.config.run.backend);
  std::unique_ptr<LoraModel> model;
  int adapter = -1;
  if (args.count("adapter")) {
    const fs::path adapter_path = args["adapter"].as<std::string>();
    const AdapterTensors tensors = read_adapter_h5(adapter_path, config);
    model = std::make_unique<LoraModel>(checkpoint.weights, *backend, tensors.spec, 1);
    load_adapter_into(adapter_path, model->adapter(0), config, base_fingerprint(checkpoint.weights));
    adapter = 0;
    plog::info("adapter {}: rank {}, alpha {}, {} parameters", adapter_path.string(), tensors.spec.rank,
               tensors.spec.alpha, model->adapter(0).n_params());
  } else {
    model = std::make_unique<LoraModel>(checkpoint.weights, *backend, LoraSpec{}, 0);
  }
  checkpoint.weights.tensors.clear();  // the device holds them now

  std::string prompt = args["prompt"].as<std::string>();
  if (args.count("chat")) prompt = tokenizer.apply_chat_template({{"user", prompt}}, /*add_generation_prompt=*/true);
  std::vector<std::int32_t> ids = tokenizer.encode(prompt, /*add_bos=*/!args.count("no-bos"));
  PERSONAS_CHECK_HINT(!ids.empty(), usage, "drop --no-bos or give a prompt", "the prompt encodes to no tokens");

  GenerateOptions options;
  options.max_new_tokens = args["max-tokens"].as<int>();
  options.sampling.temperature = args["temperature"].as<float>();
  options.sampling.top_p = args["top-p"].as<float>();
  options.sampling.top_k = args["top-k"].as<int>();
  options.sampling.seed = args["seed"].as<std::uint64_t>();
  options.stop_tokens = tokenizer.stop_ids();
  // llama2.c models mark the start of a new text with BOS: stop there too.
  if (tokenizer.data().chat_template == ChatTemplate::none) options.stop_tokens.push_back(tokenizer.bos_id());
  const std::int64_t room = config.max_position_embeddings - static_cast<std::int64_t>(ids.size());
  if (options.max_new_tokens > room) {
    plog::warn("--max-tokens {} cut to {}: the model has {} positions and the prompt uses {}", options.max_new_tokens,
               std::max<std::int64_t>(room, 0), config.max_position_embeddings, ids.size());
    options.max_new_tokens = static_cast<int>(std::max<std::int64_t>(room, 0));
  }

  TokenStreamer streamer(tokenizer);
  const auto& stops = options.stop_tokens;
  options.on_token = [&](std::int32_t id) {
    if (std::find(stops.begin(), stops.end(), id) == stops.end()) {
      std::cout << streamer.push(id) << std::flush;
    }
    return true;
  };
  const auto generated = model->generate(ids, options, adapter);
  std::cout << streamer.finish() << "\n" << std::flush;
  if (args.count("print-ids")) {
    std::string line;
    for (auto id : ids) line += std::to_string(id) + " ";
    for (auto id : generated) line += std::to_string(id) + " ";
    if (!line.empty()) line.pop_back();
    std::cout << line << "\n";
  }
  plog::info("{} prompt tokens, {} generated", ids.size(), generated.size());
  return 0;
}

}  // namespace

Command make_generate_command() {
  Command c;
  c.name = "generate";
  c.summary = "generate text with a checkpoint (and adapter)";
  c.uses_run_dir = false;
  c.add_options = [](po::options_description& o) {
    o.add_options()("model", po::value<std::string>(), "model checkpoint (.h5, from convert or init-model)")(
        "adapter", po::value<std::string>(), "LoRA adapter (.h5, from train) applied to the model")(
        "prompt", po::value<std::string>()->default_value(""), "text to continue (BOS is prepended)")(
        "max-tokens", po::value<int>()->default_value(128), "most new tokens to generate")(
        "temperature", po::value<float>()->default_value(0.8f), "sampling temperature; 0 = greedy")(
        "top-p", po::value<float>()->default_value(1.0f), "nucleus sampling: smallest set with this mass (1 = off)")(
        "top-k", po::value<int>()->default_value(0), "sample among the k most likely tokens (0 = off)")(
        "seed", po::value<std::uint64_t>()->default_value(0), "random seed for sampling")(
        "chat", "wrap the prompt in the model's chat template as a user turn")(
        "no-bos", "do not prepend the BOS token")(
        "print-ids", "after the text, print the prompt and generated token ids on one line");
  };
  c.run = run_generate;
  return c;
}

}  // namespace personas
