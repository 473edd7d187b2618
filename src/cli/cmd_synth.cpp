// personas synth --data.n_users 1000000 --data.synth_personas 8 --run.dir RUN
// Same output as `prepare` with data.source = synthetic.
#include "cli/command.h"
#include "core/log.h"
#include "data/prepare.h"
#include "pipeline/stages.h"

namespace personas {

Command make_synth_command() {
  Command c;
  c.name = "synth";
  c.summary = "synthetic MovieLens-like users with planted personas (RUN/prepare/)";
  c.run = [](CommandContext& ctx) -> int {
    if (ctx.config.data.source != "synthetic") {
      plog::info("synth: data.source = {} ignored: generating synthetic data", ctx.config.data.source);
      ctx.config.data.source = "synthetic";  // the schema points here, so the hash says synthetic too
    }
    prepare_stage(ctx.config.data, ctx.config.run.seed, ctx.run_dir(), ctx.comm,
                  stage_config_hash(ctx.schema, "prepare"));
    return 0;
  };
  return c;
}

}  // namespace personas
