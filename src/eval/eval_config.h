// [eval]: classical baselines and metrics (the agents' scoring keys join later).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config_schema.h"

namespace personas {

// How an agent says its rating: the expected rating under P(1..5) at the
// answer position, or sampled text whose first digit is parsed (the paper's way).
enum class AgentMode { expected, generate };
const std::vector<std::pair<std::string, AgentMode>>& agent_mode_names();
std::string to_string(AgentMode mode);

struct EvalConfig {
  // Comma-separated list, run in this order (see docs/evaluation.md).
  std::string baselines = "global_mean,user_mean,item_mean,bias,mf_sgd,mf_als";

  // user + item bias: r ~ mu + b_u + b_i, ridge-regularised, alternating passes
  // (the Surprise library's BaselineOnly ALS defaults).
  double bias_reg_user = 15.0;
  double bias_reg_item = 10.0;
  int bias_iterations = 10;

  // Biased MF by SGD (Funk SVD as in Surprise's SVD): r ~ mu + b_u + b_i + p_u.q_i.
  int mf_factors = 100;
  int mf_epochs = 20;
  double mf_lr = 0.005;
  double mf_reg = 0.02;
  double mf_init_std = 0.1;

  // Biased MF by ALS (same model, closed-form alternating ridge solves;
  // the ridge weight is als_reg * number of ratings of the row: "weighted-lambda").
  int als_factors = 20;
  int als_iterations = 15;
  double als_reg = 0.1;
  double als_init_std = 0.1;

  // Agents (agent_predictor.h): which agents rate the test items, and how.
  std::string agents = "persona";       // comma list of persona|global|zero_shot ("" = baselines only)
  AgentMode agent_mode = AgentMode::expected;
  int agent_batch = 16;                 // prompts per forward pass (expected mode)
  int agent_max_items = 0;              // test items rated per user (0 = all)
  int generate_tokens = 4;              // generate mode: new tokens (paper: 4)
  double generate_temperature = 0.3;    // generate mode: sampling temperature (paper: 0.3)
  bool zero_shot_profile_only = false;  // zero_shot agents without retrieved memories (paper's "profile only")
  // The endpoint agent (endpoint_agent.h): a frozen LLM behind an OpenAI-compatible server.
  std::string endpoint_base_url;        // e.g. http://localhost:8000/v1 ("" = distill.base_url)
  std::string endpoint_model;           // the model name sent (required with eval.agents = endpoint)
  std::string endpoint_api_key_env = "OPENAI_API_KEY";
  int endpoint_top_logprobs = 20;       // candidates per position asked for (0 = parse the text)
  int endpoint_max_tokens = 4;
  double endpoint_temperature = 0.0;
  int endpoint_in_flight = 8;           // requests in flight per rank
  double endpoint_timeout_s = 120.0;
  int endpoint_max_attempts = 6;

  // Metrics.
  int bootstrap_samples = 1000;  // resamples of users for the confidence intervals (0 = none)
  double confidence = 0.95;      // two-sided level of the percentile intervals
  std::string compare_to = "bias";  // the predictor every other one is compared with, paired ("" = none)

  // One line per predicted rating in RUN/eval/predictions-rank-N.jsonl (for
  // analysis; ~100 bytes per rating and predictor, so off by default).
  bool write_predictions = false;

  void describe(ConfigSchema& schema);
  std::vector<std::string> baseline_list() const;
  std::vector<std::string> agent_list() const;  // eval.agents, trimmed, empty parts dropped
};

// The endpoint agent's keys (added after runs were made: left out of the
// eval hash at their defaults), and those of them that do not change its
// ratings (the server's address, the key's variable, speed and retries).
const std::vector<std::string>& endpoint_agent_keys();
const std::vector<std::string>& endpoint_agent_neutral_keys();

}  // namespace personas
