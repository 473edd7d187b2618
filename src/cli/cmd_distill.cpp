// personas distill --run.dir RUN [--distill.provider openai --distill.base_url URL --distill.model M]
//                  [--distill.provider local [--model.path CKPT.h5]] [--retry-failed]
// Reads RUN/prepare/ (this rank's block of users), writes RUN/distill/.
#include <fmt/format.h>

#include "cli/stage_command.h"
#include "core/errors.h"
#include "core/log.h"
#include "data/dataset_io.h"
#include "distill/distill_stage.h"

namespace personas {

void distill_body(CommandContext& ctx) {
  auto run = ctx.run_dir();
  auto prepared = run.done_marker("prepare");
  PERSONAS_CHECK_HINT(prepared.has_value(), io, "run `personas prepare` (or `personas synth`) first",
                      "'{}' has no DONE marker: the prepared data set is missing or unfinished",
                      run.stage_dir("prepare").string());
  DistillRunOptions options;
  options.retry_failed = ctx.args.count("retry-failed") > 0;
  options.upstream_hash = prepared->value("config_hash", "");
  options.seed = ctx.config.run.seed;
  options.local_checkpoint = ctx.config.model.checkpoint(run.root()).string();
  options.local_max_seq = ctx.config.model.max_seq;
  options.local_chat_template = ctx.config.model.chat_template;
  options.local_device_dtype = ctx.config.model.device_dtype;
  options.backend = ctx.config.run.backend;
  auto data = load_dataset(run, ctx.comm);
  auto summary = run_distill(run, data, ctx.config.distill, options, ctx.comm);
  if (!summary.skipped) {
    plog::info("distill: {} users ok, {} failed ({} this run, {} from an earlier run); {} calls, {} prompt + {} "
               "completion tokens, estimated cost ${:.4f}",
               summary.users_ok, summary.users_failed, summary.users_done_now, summary.users_resumed, summary.calls,
               summary.prompt_tokens, summary.completion_tokens, summary.cost_usd);
    // Nothing distilled at all: the endpoint (or its settings) is at fault,
    // not single users. run_distill wrote no DONE: the same command redoes them.
    PERSONAS_CHECK_HINT(summary.users_ok > 0 || summary.users_failed == 0, provider,
                        ctx.config.distill.resolved_provider() == Provider::local
                            ? "check model.path; a model that does not write JSON needs distill.local_format = "
                              "scaffold (rerun with the changed setting)"
                            : "check distill.base_url, distill.model and the API key, then rerun the same command",
                        "distill: all {} users failed (reasons in {}/failed-rank-*.jsonl)", summary.users_failed,
                        run.stage_dir("distill").string());
    if (summary.users_failed > 0)
      plog::warn("distill: {} users failed (reasons in {}/failed-rank-*.jsonl); rerun with --retry-failed to redo them",
                 summary.users_failed, run.stage_dir("distill").string());
  }
}

Command make_distill_command() {
  StageCommandSpec spec{"distill", "distill",
                        "turn rating histories into profiles and notes: LLM or offline (RUN/distill/)", distill_body};
  spec.add_options = [](boost::program_options::options_description& options) {
    options.add_options()("retry-failed", "redo only the users an earlier run recorded as failed");
  };
  spec.forcing_flags = {"retry-failed"};
  return make_stage_command(spec);
}

}  // namespace personas
