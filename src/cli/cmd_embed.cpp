// personas embed --run.dir RUN: profile vectors for clustering, item and note
// vectors for retrieval (RUN/embed/, docs/clustering.md).
#include "cli/command.h"
#include "core/strings.h"
#include "embed/embed_stage.h"
#include "pipeline/stages.h"

namespace personas {


Command make_embed_command() {
  Command c;
  c.name = "embed";
  c.summary = "embed profiles (hashed TF-IDF, model hidden states or /embeddings; + behaviour features) and items/notes";
  c.run = [](CommandContext& ctx) -> int {
    embed_stage(ctx.config, ctx.run_dir(), ctx.comm, stage_config_hash(ctx.schema, "embed"));
    return 0;
  };
  return c;
}

}  // namespace personas
