// The whole configuration: one struct per INI section, each owned by its room.
// Adding an area: define XConfig with describe() in its room, add it here.
#pragma once

#include "core/config_schema.h"
#include "cluster/cluster_config.h"
#include "core/run_config.h"
#include "data/data_config.h"
#include "embed/embed_config.h"
#include "embed/embed_settings.h"
#include "distill/distill_config.h"
#include "eval/eval_config.h"
#include "model/model_config.h"
#include "train/train_config.h"

namespace personas {

struct Config {
  RunConfig run;
  LogConfig log;
  DataConfig data;
  LoraConfig lora;
  TrainConfig train;
  DistillConfig distill;
  EvalConfig eval;
  ModelConfig model;
  EmbedConfig embed;
  ClusterConfig cluster;

  // Registers every section's keys (pointers into this object: do not copy a
  // Config after calling describe on it).
  void describe(ConfigSchema& schema) {
    run.describe(schema);
    log.describe(schema);
    data.describe(schema);
    lora.describe(schema);
    train.describe(schema);
    distill.describe(schema);
    eval.describe(schema);
    model.describe(schema);
    embed.describe(schema);
    cluster.describe(schema);
  }
};

// The sections the embed room reads (embed/embed_settings.h).
inline EmbedSettings embed_settings(const Config& c) { return {c.embed, c.run, c.model, c.distill.base_url}; }

}  // namespace personas
