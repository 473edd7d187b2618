// personas prepare --data.source ml100k --data.path DIR --run.dir RUN
#include "cli/command.h"
#include "data/prepare.h"
#include "pipeline/stages.h"

namespace personas {

Command make_prepare_command() {
  Command c;
  c.name = "prepare";
  c.summary = "load ratings, select users, split by time, shard over ranks (RUN/prepare/)";
  c.run = [](CommandContext& ctx) -> int {
    prepare_stage(ctx.config.data, ctx.config.run.seed, ctx.run_dir(), ctx.comm,
                  stage_config_hash(ctx.schema, "prepare"));
    return 0;
  };
  return c;
}

}  // namespace personas
