// A pipeline stage as a subcommand, and the stage bodies `personas run` calls
// in-process. Both go through pipeline/stage_gate.h, so a stage run alone
// after `run` is skipped as done, and `run` after the stage alone skips it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/command.h"

namespace personas {

// Does the stage's work on every rank (its DONE marker is the gate's job).
using StageBody = std::function<void(CommandContext&)>;

struct StageCommandSpec {
  std::string command;  // the subcommand ("synth" runs the "prepare" stage)
  std::string stage;    // the stage in pipeline_stages() whose hash and marker it uses
  std::string summary;
  StageBody body;
  // The command's own flags besides --force.
  std::function<void(boost::program_options::options_description&)> add_options = {};
  std::vector<std::string> forcing_flags = {};  // own flags that also redo a done stage (--retry-failed)
};

// `personas <command> [--force]`: skipped when RUN/<stage>/DONE holds this
// configuration's hash (log says so and how to redo), otherwise runs and stamps DONE.
Command make_stage_command(StageCommandSpec spec);

// The bodies of the pipeline stages, by stage name (prepare, distill, model,
// embed, cluster, train, eval, report); ErrorKind::internal when unknown.
const StageBody& stage_body(const std::string& stage);

// One per cmd_<stage>.cpp.
void prepare_body(CommandContext& ctx);
void distill_body(CommandContext& ctx);
void model_body(CommandContext& ctx);
void embed_body(CommandContext& ctx);
void cluster_body(CommandContext& ctx);
void train_body(CommandContext& ctx);
void eval_body(CommandContext& ctx);
void report_body(CommandContext& ctx);

}  // namespace personas
