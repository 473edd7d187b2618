// personas cluster --run.dir RUN: distributed k-means over the profile vectors
// with the choice of k; personas in RUN/cluster/ (docs/clustering.md).
#include "cli/command.h"
#include "cluster/cluster_stage.h"
#include "core/strings.h"
#include "pipeline/stages.h"

namespace personas {


Command make_cluster_command() {
  Command c;
  c.name = "cluster";
  c.summary = "distributed k-means over profile embeddings with the choice of k: personas";
  c.run = [](CommandContext& ctx) -> int {
    cluster_stage(ctx.config, ctx.run_dir(), ctx.comm, stage_config_hash(ctx.schema, "cluster"));
    return 0;
  };
  return c;
}

}  // namespace personas
