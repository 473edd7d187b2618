#include "eval/eval_config.h"

#include <algorithm>

#include "core/strings.h"
#include "eval/baselines.h"

namespace personas {

const std::vector<std::pair<std::string, AgentMode>>& agent_mode_names() {
  static const std::vector<std::pair<std::string, AgentMode>> names = {{"expected", AgentMode::expected},
                                                                        {"generate", AgentMode::generate}};
  return names;
}

std::string to_string(AgentMode mode) { return choice_word(agent_mode_names(), mode); }

const std::vector<std::string>& endpoint_agent_keys() {
  static const std::vector<std::string> keys = {
      "eval.endpoint_base_url",     "eval.endpoint_model",        "eval.endpoint_api_key_env",
      "eval.endpoint_top_logprobs", "eval.endpoint_max_tokens",   "eval.endpoint_temperature",
      "eval.endpoint_in_flight",    "eval.endpoint_timeout_s",    "eval.endpoint_max_attempts"};
  return keys;
}

const std::vector<std::string>& endpoint_agent_neutral_keys() {
  static const std::vector<std::string> keys = {"eval.endpoint_base_url", "eval.endpoint_api_key_env",
                                                "eval.endpoint_in_flight", "eval.endpoint_timeout_s",
                                                "eval.endpoint_max_attempts"};
  return keys;
}

namespace {

// "a, b,,c" -> {"a", "b", "c"}: trimmed, empty parts dropped.
std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> out;
  for (auto part : split(text, ",")) {
    auto name = trim(part);
    if (!name.empty()) out.emplace_back(name);
  }
  return out;
}

}  // namespace

std::vector<std::string> EvalConfig::baseline_list() const { return comma_list(baselines); }
std::vector<std::string> EvalConfig::agent_list() const { return comma_list(agents); }

void EvalConfig::describe(ConfigSchema& s) {
  s.add("eval.baselines", &baselines,
        "classical baselines to run, comma-separated: global_mean, user_mean, item_mean, bias, mf_sgd, mf_als "
        "(empty = none)");
  s.add("eval.bias_reg_user", &bias_reg_user, "user + item bias: ridge weight of each user bias");
  s.add("eval.bias_reg_item", &bias_reg_item, "user + item bias: ridge weight of each item bias");
  s.add("eval.bias_iterations", &bias_iterations, "user + item bias: alternating passes (items, then users)");
  s.add("eval.mf_factors", &mf_factors, "biased MF (SGD): latent factors");
  s.add("eval.mf_epochs", &mf_epochs, "biased MF (SGD): passes over the training ratings (seeded shuffle)");
  s.add("eval.mf_lr", &mf_lr, "biased MF (SGD): learning rate");
  s.add("eval.mf_reg", &mf_reg, "biased MF (SGD): L2 weight on biases and factors");
  s.add("eval.mf_init_std", &mf_init_std, "biased MF (SGD): std of the normal initial factors (seeded by run.seed)");
  s.add("eval.als_factors", &als_factors, "biased MF (ALS): latent factors");
  s.add("eval.als_iterations", &als_iterations, "biased MF (ALS): alternating rounds (users, then items)");
  s.add("eval.als_reg", &als_reg, "biased MF (ALS): ridge weight per rating of the row (weighted-lambda)");
  s.add("eval.als_init_std", &als_init_std, "biased MF (ALS): std of the normal initial item factors");
  s.add("eval.agents", &agents, "agents that rate the test items: comma list of persona, global, per_user, zero_shot, endpoint");
  s.add("eval.endpoint_base_url", &endpoint_base_url,
        "endpoint agent: OpenAI-compatible API root, e.g. http://localhost:8000/v1 (empty = distill.base_url)");
  s.add("eval.endpoint_model", &endpoint_model, "endpoint agent: the model name sent to /chat/completions");
  s.add("eval.endpoint_api_key_env", &endpoint_api_key_env,
        "endpoint agent: environment variable holding the API key (never logged)");
  s.add("eval.endpoint_top_logprobs", &endpoint_top_logprobs,
        "endpoint agent: log-probabilities asked for per answer position (the rating is the expected digit "
        "under them); 0 = the first digit of the answer");
  s.add("eval.endpoint_max_tokens", &endpoint_max_tokens, "endpoint agent: new tokens per answer");
  s.add("eval.endpoint_temperature", &endpoint_temperature, "endpoint agent: sampling temperature");
  s.add("eval.endpoint_in_flight", &endpoint_in_flight, "endpoint agent: concurrent requests per rank");
  s.add("eval.endpoint_timeout_s", &endpoint_timeout_s, "endpoint agent: seconds per attempt");
  s.add("eval.endpoint_max_attempts", &endpoint_max_attempts,
        "endpoint agent: attempts per request (429, 5xx, timeouts are retried)");
  s.add_choice("eval.agent_mode", &agent_mode, agent_mode_names(),
               "expected = rating from P(1..5) at the answer position; generate = sampled text + first digit (URR)");
  s.add("eval.agent_batch", &agent_batch,
        "agents: prompts per forward pass (expected mode), sequences decoded together (generate mode; the answers "
        "do not depend on it)");
  s.add("eval.agent_max_items", &agent_max_items, "agents: test items rated per user (0 = every test item)");
  s.add("eval.generate_tokens", &generate_tokens, "generate mode: new tokens per answer (paper: 4)");
  s.add("eval.generate_temperature", &generate_temperature, "generate mode: sampling temperature (paper: 0.3)");
  s.add("eval.zero_shot_profile_only", &zero_shot_profile_only,
        "zero_shot agents get no retrieved memories (the paper's 'profile only' row)");
  s.add("eval.bootstrap_samples", &bootstrap_samples,
        "resamples of users (with replacement) for the RMSE/MAE confidence intervals; 0 = no intervals");
  s.add("eval.confidence", &confidence, "two-sided level of the bootstrap percentile intervals");
  s.add("eval.compare_to", &compare_to,
        "predictor that every other one is compared with on the same users: the RMSE and MAE differences and "
        "their paired bootstrap intervals go to metrics.json (vs_reference) and the report (\"\" = none)");
  s.add("eval.write_predictions", &write_predictions,
        "write every prediction to RUN/eval/predictions-rank-N.jsonl (predictor, user, item, truth, predicted, "
        "persona, unrelated); about 100 bytes per rating and predictor");
  s.add_check([this](Problems& p) {
    if (agent_batch < 1) p.add("eval.agent_batch: {} must be >= 1", agent_batch);
    if (agent_max_items < 0) p.add("eval.agent_max_items: {} must be >= 0", agent_max_items);
    if (generate_tokens < 1) p.add("eval.generate_tokens: {} must be >= 1", generate_tokens);
    if (!(generate_temperature >= 0)) p.add("eval.generate_temperature: {} must be >= 0", generate_temperature);
    if (endpoint_top_logprobs < 0) p.add("eval.endpoint_top_logprobs: {} must be >= 0", endpoint_top_logprobs);
    if (endpoint_max_tokens < 1) p.add("eval.endpoint_max_tokens: {} must be >= 1", endpoint_max_tokens);
    if (!(endpoint_temperature >= 0)) p.add("eval.endpoint_temperature: {} must be >= 0", endpoint_temperature);
    if (endpoint_in_flight < 1) p.add("eval.endpoint_in_flight: {} must be >= 1", endpoint_in_flight);
    if (endpoint_max_attempts < 1) p.add("eval.endpoint_max_attempts: {} must be >= 1", endpoint_max_attempts);
    const auto agent_names = agent_list();
    const bool endpoint_agent = std::find(agent_names.begin(), agent_names.end(), "endpoint") != agent_names.end();
    if (endpoint_agent && endpoint_model.empty())
      p.add("eval.endpoint_model: required for eval.agents = endpoint (the model name the server serves)");
    for (const auto& name : baseline_list())
      if (!is_known_baseline(name))
        p.add("eval.baselines: unknown baseline '{}' (known: {})", name, join(known_baselines(), ", "));
    if (bias_reg_user < 0) p.add("eval.bias_reg_user: {} must be >= 0", bias_reg_user);
    if (bias_reg_item < 0) p.add("eval.bias_reg_item: {} must be >= 0", bias_reg_item);
    if (bias_iterations < 1) p.add("eval.bias_iterations: {} must be >= 1", bias_iterations);
    if (mf_factors < 1) p.add("eval.mf_factors: {} must be >= 1", mf_factors);
    if (mf_epochs < 1) p.add("eval.mf_epochs: {} must be >= 1", mf_epochs);
    if (!(mf_lr > 0)) p.add("eval.mf_lr: {} must be > 0", mf_lr);
    if (mf_reg < 0) p.add("eval.mf_reg: {} must be >= 0", mf_reg);
    if (mf_init_std < 0) p.add("eval.mf_init_std: {} must be >= 0", mf_init_std);
    if (als_factors < 1) p.add("eval.als_factors: {} must be >= 1", als_factors);
    if (als_iterations < 1) p.add("eval.als_iterations: {} must be >= 1", als_iterations);
    if (!(als_reg > 0)) p.add("eval.als_reg: {} must be > 0", als_reg);
    if (als_init_std < 0) p.add("eval.als_init_std: {} must be >= 0", als_init_std);
    if (bootstrap_samples < 0) p.add("eval.bootstrap_samples: {} must be >= 0", bootstrap_samples);
    if (!(confidence > 0 && confidence < 1)) p.add("eval.confidence: {} must be in (0, 1)", confidence);
  });
}

}  // namespace personas
