// personas cluster --run.dir RUN: distributed k-means over the profile vectors
// with the choice of k; personas in RUN/cluster/ (docs/clustering.md).
#include "cli/command.h"
#include "cluster/cluster_stage.h"
#include "core/strings.h"

namespace personas {

namespace {

std::string cluster_config_hash(const ConfigSchema& schema, std::int64_t seed) {
  std::vector<std::string> sections;
  for (const auto& s : schema.sections())
    if (s == "data" || s == "distill" || s == "embed" || s == "model" || s == "cluster") sections.push_back(s);
  return hash_hex(schema.to_ini(sections, /*with_help=*/false) + fmt::format("\nrun.seed = {}\n", seed));
}

}  // namespace

Command make_cluster_command() {
  Command c;
  c.name = "cluster";
  c.summary = "distributed k-means over profile embeddings with the choice of k: personas";
  c.run = [](CommandContext& ctx) -> int {
    cluster_stage(ctx.config, ctx.run_dir(), ctx.comm, cluster_config_hash(ctx.schema, ctx.config.run.seed));
    return 0;
  };
  return c;
}

}  // namespace personas
