#include "cli/stage_command.h"

#include <fmt/format.h>

#include <map>

#include "core/errors.h"
#include "core/log.h"
#include "pipeline/stage_gate.h"
#include "pipeline/stages.h"

namespace personas {

Command make_stage_command(StageCommandSpec spec) {
  Command c;
  c.name = spec.command;
  c.summary = spec.summary;
  auto own = spec.add_options;
  c.add_options = [own](boost::program_options::options_description& o) {
    o.add_options()("force", "redo the stage even if its DONE marker holds this configuration");
    if (own) own(o);
  };
  // The report reads a run and does not rewrite its config.ini.
  c.uses_run_dir = spec.stage != "report";
  c.run = [spec](CommandContext& ctx) -> int {
    bool force = ctx.args.count("force") > 0;
    for (const auto& flag : spec.forcing_flags) force = force || ctx.args.count(flag) > 0;
    const auto hash = stage_config_hash(ctx.schema, spec.stage);
    const auto run = ctx.run_dir();
    const auto verdict = stage_verdict(run, ctx.comm, spec.stage, hash, force);
    if (!verdict.run) {
      plog::info("{}: {}; pass --force to redo it", spec.stage, verdict.reason);
      return 0;
    }
    plog::info("{}: {}", spec.stage, verdict.reason);
    run_stage_body(run, ctx.comm, spec.stage, hash, [&] { spec.body(ctx); });
    return 0;
  };
  return c;
}

const StageBody& stage_body(const std::string& stage) {
  static const std::map<std::string, StageBody> bodies = {
      {"prepare", prepare_body}, {"distill", distill_body}, {"model", model_body}, {"embed", embed_body},
      {"cluster", cluster_body}, {"train", train_body},     {"eval", eval_body},   {"report", report_body},
  };
  const auto it = bodies.find(stage);
  PERSONAS_CHECK(it != bodies.end(), internal, "stage '{}' has no body", stage);
  return it->second;
}

}  // namespace personas
