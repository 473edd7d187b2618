// The agents as evaluation predictors (EvalPredictor, evaluation.h):
//   persona   base + the user's persona adapter (RUN/train/adapters/persona-NNNN.h5)
//   global    base + one global adapter (RUN/train/adapters/global.h5; train.mode = global)
//   zero_shot base model only (the paper's "frozen, profile + memory" row)
//   endpoint  a frozen LLM behind an OpenAI-compatible server (endpoint_agent.h)
// Each rates the test items of this rank's users with the training prompt
// (agent_scoring.h); the adapters of all personas live in one LoraModel so a
// batch mixes personas.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/backend_kind.h"
#include "backend/backend.h"
#include "core/run_config.h"
#include "core/run_dir.h"
#include "eval/agent_scoring.h"
#include "model/checkpoint.h"
#include "model/engine.h"
#include "model/model_config.h"
#include "eval/eval_config.h"
#include "eval/evaluation.h"
#include "train/train_config.h"

namespace personas {

struct AgentPredictorInputs {
  fs::path run_dir;
  fs::path model_path;          // the base checkpoint (model.path or RUN/model/base.h5)
  int default_max_len = 512;    // model.max_seq (train.max_seq_len = 0)
  TrainConfig train;            // prompt style, retrieval, answer format: as in training
  EvalConfig eval;
  BackendKind backend = BackendKind::automatic;
  std::string chat_template;    // model.chat_template ("" = the checkpoint's)
  DeviceDtypeSetting device_dtype = DeviceDtypeSetting::automatic;  // model.device_dtype
  std::uint64_t seed = 1234;
  std::string fallback_base_url;  // distill.base_url: the endpoint agent's server when eval.endpoint_base_url is ""
  // What the agents' ratings depend on besides the base weights and the
  // adapters' parameters (both hashed in as well): the eval stage's config
  // hash with eval.agents and the warm-start keys neutral (it covers every
  // upstream stage; which agents run, or how the persona adapters were
  // fine-tuned, does not change another agent's ratings). Agent ratings of an
  // earlier, stopped run with the same key are kept (agent_journal.h).
  std::string journal_key;
};

// The inputs as the [run], [model], [train] and [eval] sections give them.
AgentPredictorInputs agent_inputs(const RunConfig& run, const ModelConfig& model, const TrainConfig& train,
                                  const EvalConfig& eval);

// RUN/train/adapters/<name>.h5
fs::path adapter_path(const fs::path& run_dir, const std::string& name);

// The base model with the given adapters loaded (index = position in the list).
// The base with one arena per adapter file, loaded (model/engine.h).
using AgentModel = Engine;
AgentModel load_agent_model(const AgentPredictorInputs& inputs, const std::vector<fs::path>& adapter_files,
                            int device_index);
// Scoring options as training rendered its prompts; `kind` = persona|global|zero_shot|endpoint;
// `data` gives the training mean of train.prompt_estimate.
AgentScoringOptions agent_scoring_options(const AgentPredictorInputs& inputs, const std::string& kind,
                                          const Phi3Config& model_config, const Dataset& data);

// One predictor per name in eval.agents (in that order).
std::vector<EvalPredictor> agent_predictors(const AgentPredictorInputs& inputs);

}  // namespace personas
