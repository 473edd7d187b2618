// personas embed --run.dir RUN: profile vectors for clustering, item and note
// vectors for retrieval (RUN/embed/, docs/clustering.md).
#include "cli/stage_command.h"
#include "core/strings.h"
#include "embed/embed_stage.h"
#include "pipeline/stages.h"

namespace personas {


void embed_body(CommandContext& ctx) {
  embed_stage(embed_settings(ctx.config), ctx.run_dir(), ctx.comm, stage_config_hash(ctx.schema, "embed"));
}

Command make_embed_command() {
  return make_stage_command({"embed", "embed",
                             "embed profiles (hashed TF-IDF, model hidden states or /embeddings; + behaviour features) and items/notes",
                             embed_body});
}

}  // namespace personas
