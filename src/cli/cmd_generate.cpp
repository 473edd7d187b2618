// personas generate --model m.h5 [--adapter a.h5] --prompt TEXT --max-tokens N
//                   --temperature T [--top-p P] [--top-k K] [--seed S] [--chat] [--print-ids]
//                   [--logprobs K]
// Prints the continuation of the prompt as it is generated (rank 0 only), or
// with --logprobs K one JSON object per generated position:
//   {"position": 0, "id": 504, "piece": "The", "logprob": -0.71,
//    "top": [{"id": 504, "piece": "The", "logprob": -0.71}, ...]}
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <numeric>
#include <optional>

#include "backend/backend.h"
#include "cli/command.h"
#include "core/errors.h"
#include "core/log.h"
#include "model/checkpoint.h"
#include "model/engine.h"
#include "model/lora_model.h"
#include "model/tokenizer.h"
#include "train/adapter_export.h"

namespace personas {

namespace po = boost::program_options;

namespace {

struct TopLogprob {
  std::int32_t id = 0;
  double logprob = 0.0;
};

// One step's log-softmax: every token's log-probability (double) and the k largest (ties: lower id first).
struct StepLogprobs {
  std::vector<double> all;
  std::vector<TopLogprob> top;
};

StepLogprobs step_logprobs(std::span<const float> logits, int k) {
  double max = -std::numeric_limits<double>::infinity();
  for (float v : logits) max = std::max(max, static_cast<double>(v));
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  const double log_z = max + std::log(sum);
  StepLogprobs step;
  step.all.resize(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) step.all[i] = static_cast<double>(logits[i]) - log_z;
  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  const auto n = std::min<std::size_t>(static_cast<std::size_t>(k), order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
                    [&](std::int32_t a, std::int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  for (std::size_t i = 0; i < n; ++i) step.top.push_back({order[i], step.all[static_cast<std::size_t>(order[i])]});
  return step;
}

std::string logprobs_line(const Tokenizer& tokenizer, int position, std::int32_t id, const StepLogprobs& step) {
  nlohmann::json line;
  line["position"] = position;
  line["id"] = id;
  line["piece"] = tokenizer.id_to_piece(id);
  line["text"] = tokenizer.decode(std::span<const std::int32_t>(&id, 1), /*skip_special=*/false);
  line["logprob"] = step.all.at(static_cast<std::size_t>(id));
  nlohmann::json list = nlohmann::json::array();
  for (const auto& t : step.top)
    list.push_back({{"id", t.id}, {"piece", tokenizer.id_to_piece(t.id)}, {"logprob", t.logprob}});
  line["top"] = std::move(list);
  // error_handler replace: a piece may be part of a UTF-8 character.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int run_generate(CommandContext& ctx) {
  if (!ctx.comm.is_root()) return 0;
  const auto& args = ctx.args;
  PERSONAS_CHECK_HINT(args.count("model"), usage, "personas generate --model m.h5 --prompt \"Once upon a time\"",
                      "generate needs --model FILE.h5");
  const fs::path model_path = args["model"].as<std::string>();
  EngineOptions eo;
  eo.backend = ctx.config.run.backend;
  eo.chat_template = ctx.config.model.chat_template;
  eo.device_dtype = ctx.config.model.device_dtype;
  eo.what = "generate";
  std::optional<AdapterTensors> adapter_tensors;
  if (args.count("adapter")) {
    adapter_tensors = read_adapter_h5(args["adapter"].as<std::string>(), load_checkpoint_config(model_path));
    eo.spec = adapter_tensors->spec;
    eo.n_adapters = 1;
  }
  Engine engine = load_engine(model_path, eo);
  const Tokenizer& tokenizer = *engine.tokenizer;
  const Phi3Config& config = engine.config;
  LoraModel* model = engine.model.get();
  int adapter = -1;
  if (adapter_tensors) {
    const fs::path adapter_path = args["adapter"].as<std::string>();
    load_adapter_into(adapter_path, model->adapter(0), config, engine.fingerprint);
    adapter = 0;
    plog::info("adapter {}: rank {}, alpha {}, {} parameters", adapter_path.string(), adapter_tensors->spec.rank,
               adapter_tensors->spec.alpha, model->adapter(0).n_params());
  }

  std::string prompt = args["prompt"].as<std::string>();
  const bool chat = args.count("chat") > 0;
  if (chat) prompt = tokenizer.apply_chat_template({{"user", prompt}}, /*add_generation_prompt=*/true);
  // BOS when the tokenizer adds one (SentencePiece llama-style, Phi-3's template); Llama 3's template text
  // carries its own <|begin_of_text|>.
  const bool add_bos = !args.count("no-bos") && tokenizer.adds_bos() &&
                       !(chat && tokenizer.data().chat_template == ChatTemplate::llama3);
  std::vector<std::int32_t> ids = tokenizer.encode(prompt, add_bos);
  PERSONAS_CHECK_HINT(!ids.empty(), usage, "give a prompt", "the prompt encodes to no tokens");

  GenerateOptions options;
  options.max_new_tokens = args["max-tokens"].as<int>();
  options.sampling.temperature = args["temperature"].as<float>();
  options.sampling.top_p = args["top-p"].as<float>();
  options.sampling.top_k = args["top-k"].as<int>();
  options.sampling.seed = args["seed"].as<std::uint64_t>();
  // Checked here, as usage: Sampler treats bad values as a bug of its caller.
  PERSONAS_CHECK(options.sampling.temperature >= 0.0f, usage, "--temperature {} must be >= 0",
                 options.sampling.temperature);
  PERSONAS_CHECK(options.sampling.top_k >= 0, usage, "--top-k {} must be >= 0", options.sampling.top_k);
  PERSONAS_CHECK(options.sampling.top_p > 0.0f && options.sampling.top_p <= 1.0f, usage, "--top-p {} must be in (0, 1]",
                 options.sampling.top_p);
  PERSONAS_CHECK(options.max_new_tokens >= 0, usage, "--max-tokens {} must be >= 0", options.max_new_tokens);
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
  const int logprobs_k = args["logprobs"].as<int>();
  PERSONAS_CHECK(logprobs_k >= 0 && logprobs_k <= tokenizer.vocab_size(), usage,
                 "--logprobs {} must be in [0, {}]", logprobs_k, tokenizer.vocab_size());
  // With --logprobs the output is JSON lines (one per generated position), not text.
  StepLogprobs step;
  if (logprobs_k > 0) options.on_logits = [&](std::span<const float> logits) { step = step_logprobs(logits, logprobs_k); };
  int position = 0;
  options.on_token = [&](std::int32_t id) {
    if (logprobs_k > 0) {
      std::cout << logprobs_line(tokenizer, position++, id, step) << "\n" << std::flush;
    } else if (std::find(stops.begin(), stops.end(), id) == stops.end()) {
      std::cout << streamer.push(id) << std::flush;
    }
    return true;
  };
  const auto generated = model->generate(ids, options, adapter);
  if (logprobs_k == 0) std::cout << streamer.finish() << "\n" << std::flush;
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
  c.positional = "prompt";  // personas generate --model m.h5 --chat "What is the capital of France?"
  c.add_options = [](po::options_description& o) {
    o.add_options()("model", po::value<std::string>(), "model checkpoint (.h5, from convert or init-model)")(
        "adapter", po::value<std::string>(), "LoRA adapter (.h5, from train) applied to the model")(
        "prompt", po::value<std::string>()->default_value(""), "text to continue (BOS prepended when the tokenizer adds one)")(
        "max-tokens", po::value<int>()->default_value(128), "most new tokens to generate")(
        "temperature", po::value<float>()->default_value(0.8f), "sampling temperature; 0 = greedy")(
        "top-p", po::value<float>()->default_value(1.0f), "nucleus sampling: smallest set with this mass (1 = off)")(
        "top-k", po::value<int>()->default_value(0), "sample among the k most likely tokens (0 = off)")(
        "seed", po::value<std::uint64_t>()->default_value(0), "random seed for sampling")(
        "chat", "wrap the prompt in the model's chat template as a user turn")(
        "no-bos", "do not prepend the BOS token (plain prompts of tokenizers that add one)")(
        "logprobs", po::value<int>()->default_value(0),
        "print, per generated position, the K most likely tokens (id, piece, log-probability) as JSON lines")(
        "print-ids", "after the text, print the prompt and generated token ids on one line");
  };
  c.run = run_generate;
  return c;
}

}  // namespace personas
