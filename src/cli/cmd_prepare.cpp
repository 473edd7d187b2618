// personas prepare --data.source ml100k --data.path DIR --run.dir RUN
#include "cli/stage_command.h"
#include "data/prepare.h"
#include "pipeline/stages.h"

namespace personas {

void prepare_body(CommandContext& ctx) {
  prepare_stage(ctx.config.data, ctx.config.run.seed, ctx.run_dir(), ctx.comm,
                stage_config_hash(ctx.schema, "prepare"));
}

Command make_prepare_command() {
  return make_stage_command({"prepare", "prepare",
                             "load ratings, select users, split by time, shard over ranks (RUN/prepare/)",
                             prepare_body});
}

}  // namespace personas
