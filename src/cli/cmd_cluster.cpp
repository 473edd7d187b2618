// personas cluster --run.dir RUN: distributed k-means over the profile vectors
// with the choice of k; personas in RUN/cluster/ (docs/clustering.md).
#include "cli/stage_command.h"
#include "cluster/cluster_stage.h"
#include "core/strings.h"
#include "pipeline/stages.h"

namespace personas {


void cluster_body(CommandContext& ctx) {
  cluster_stage(ctx.config.cluster, ctx.config.run, ctx.run_dir(), ctx.comm, stage_config_hash(ctx.schema, "cluster"));
}

Command make_cluster_command() {
  return make_stage_command({"cluster", "cluster",
                             "distributed k-means over profile embeddings with the choice of k: personas",
                             cluster_body});
}

}  // namespace personas
