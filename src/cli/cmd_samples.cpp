// personas samples --run.dir RUN: the RAFT samples `personas train` would
// build (same [train] settings, same tokenizer, same personas), counted per
// persona without being kept, chunk by chunk of users, so sample building can
// be measured at millions of users: RUN/samples/summary.json and DONE.
#include "cli/command.h"
#include "core/log.h"
#include "core/strings.h"
#include "pipeline/stages.h"
#include "train/samples_stage.h"

namespace personas {

Command make_samples_command() {
  Command c;
  c.name = "samples";
  c.summary = "count the RAFT samples train would build (per persona, tokens, lengths), streaming over users";
  c.add_options = [](boost::program_options::options_description& o) {
    o.add_options()("chunk-users", boost::program_options::value<std::int64_t>()->default_value(10000),
                    "users read from RUN/prepare at a time (memory is bounded by one chunk)");
  };
  c.run = [](CommandContext& ctx) -> int {
    SamplesStageOptions options;
    options.train = ctx.config.train;
    options.model_path = ctx.config.model.checkpoint(ctx.config.run.dir);
    options.default_max_len = ctx.config.model.max_seq;
    options.chat_template = ctx.config.model.chat_template;
    options.chunk_users = ctx.args["chunk-users"].as<std::int64_t>();
    // Valid for the configuration train would run with: train's own hash
    // (seed, data, distill, model, embed, cluster, lora, train), tagged.
    options.config_hash = hash_hex(stage_config_hash(ctx.schema, "train") + "\n[stage samples]");
    auto summary = samples_stage(ctx.run_dir(), ctx.comm, options);
    if (ctx.comm.is_root()) plog::info("samples: summary in {}/samples/summary.json", ctx.config.run.dir);
    return 0;
  };
  return c;
}

}  // namespace personas
