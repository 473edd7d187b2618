// personas embed --run.dir RUN: profile vectors for clustering, item and note
// vectors for retrieval (RUN/embed/, docs/clustering.md).
#include "cli/command.h"
#include "core/strings.h"
#include "embed/embed_stage.h"

namespace personas {

namespace {

// The vectors depend on the data, the distilled texts, the embedder settings and the model.
std::string embed_config_hash(const ConfigSchema& schema, std::int64_t seed) {
  std::vector<std::string> sections;
  for (const auto& s : schema.sections())
    if (s == "data" || s == "distill" || s == "embed" || s == "model") sections.push_back(s);
  return hash_hex(schema.to_ini(sections, /*with_help=*/false) + fmt::format("\nrun.seed = {}\n", seed));
}

}  // namespace

Command make_embed_command() {
  Command c;
  c.name = "embed";
  c.summary = "embed profiles (hashed TF-IDF, model hidden states or /embeddings; + behaviour features) and items/notes";
  c.run = [](CommandContext& ctx) -> int {
    embed_stage(ctx.config, ctx.run_dir(), ctx.comm, embed_config_hash(ctx.schema, ctx.config.run.seed));
    return 0;
  };
  return c;
}

}  // namespace personas
