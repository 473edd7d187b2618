// personas eval --run.dir RUN: the classical baselines (and, once they land,
// the agents) rate the held-out ratings of the prepared data set; metrics go
// to RUN/eval/metrics.json and RUN/eval/per-user.jsonl.
#include "cli/stage_command.h"
#include "core/strings.h"
#include "eval/agent_predictor.h"
#include "eval/evaluation.h"
#include "pipeline/stages.h"

namespace personas {


void eval_body(CommandContext& ctx) {
  EvalStageOptions options;
  options.seed = static_cast<std::uint64_t>(ctx.config.run.seed);
  options.config_hash = stage_config_hash(ctx.schema, "eval");
  auto agents = agent_inputs(ctx.config.run, ctx.config.model, ctx.config.train, ctx.config.eval);
  agents.fallback_base_url = ctx.config.distill.base_url;
  // One agent's ratings do not depend on which others run, on how the persona
  // adapters were fine-tuned, nor (for the local ones) on the endpoint agent's
  // keys, which its own journal key holds.
  std::vector<std::string> neutral = {"eval.agents", "train.warm_lr", "train.warm_max_steps"};
  neutral.insert(neutral.end(), endpoint_agent_keys().begin(), endpoint_agent_keys().end());
  agents.journal_key = stage_config_hash(ctx.schema, "eval", neutral);
  eval_stage(ctx.config.eval, ctx.run_dir(), ctx.comm, options, agent_predictors(agents));
}

Command make_eval_command() {
  return make_stage_command({"eval", "eval",
                             "agents and classical baselines rate the held-out items; metrics in RUN/eval/",
                             eval_body});
}

}  // namespace personas
