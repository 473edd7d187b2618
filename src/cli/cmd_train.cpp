// personas train --run.dir RUN: one LoRA adapter per persona (or one global,
// or one per user: train.mode) on RAFT samples; adapters in RUN/train/adapters
// (HDF5) and RUN/train/peft (PEFT); per-rank logs RUN/train/log-rank-*.jsonl.
#include "cli/stage_command.h"
#include "core/log.h"
#include "core/strings.h"
#include "train/train_stage.h"
#include "pipeline/stages.h"

namespace personas {


void train_body(CommandContext& ctx) {
  TrainStageOptions options;
  options.lora = ctx.config.lora;
  options.train = ctx.config.train;
  options.run_seed = ctx.config.run.seed;
  options.backend = ctx.config.run.backend;
  options.model_path = ctx.config.model.checkpoint(ctx.config.run.dir);
  options.default_max_len = ctx.config.model.max_seq;
  options.chat_template = ctx.config.model.chat_template;
  options.device_dtype = ctx.config.model.device_dtype;
  options.config_hash = stage_config_hash(ctx.schema, "train");
  options.global_phase_hash = stage_config_hash(ctx.schema, "train", {"train.warm_lr", "train.warm_max_steps"});
  auto summary = train_stage(ctx.run_dir(), ctx.comm, options);
  if (ctx.comm.is_root())
    plog::info("train: {} adapter(s) in {}/train/adapters (HDF5) and {}/train/peft (PEFT)",
               summary["adapters"].size(), ctx.config.run.dir, ctx.config.run.dir);
}

Command make_train_command() {
  return make_stage_command(
      {"train", "train",
       "train one LoRA adapter per persona (RAFT samples, persona-parallel ranks, checkpoints, PEFT export)",
       train_body});
}

}  // namespace personas
