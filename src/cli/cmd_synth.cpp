// personas synth --data.n_users 1000000 --data.synth_personas 8 --run.dir RUN
// Same output as `prepare` with data.source = synthetic.
#include "cli/stage_command.h"
#include "core/log.h"
#include "data/prepare.h"
#include "pipeline/stages.h"

namespace personas {

Command make_synth_command() {
  auto command = make_stage_command({"synth", "prepare",
                                     "synthetic MovieLens-like users with planted personas (RUN/prepare/)",
                                     prepare_body});
  // data.source is set before the gate hashes [data], so the hash says synthetic.
  command.run = [gated = command.run](CommandContext& ctx) -> int {
    if (ctx.config.data.source != DataSource::synthetic) {
      plog::info("synth: data.source = {} ignored: generating synthetic data", to_string(ctx.config.data.source));
      ctx.config.data.source = DataSource::synthetic;  // the schema points here, so the hash says synthetic too
    }
    return gated(ctx);
  };
  return command;
}

}  // namespace personas
