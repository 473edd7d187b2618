// What the embed room reads of the configuration: its own section and the
// few keys of others it needs. pipeline/config.h builds it from the whole
// Config (embed_settings), so embed/ never sees the aggregate of every room.
#pragma once

#include <string>

#include "core/run_config.h"
#include "embed/embed_config.h"
#include "model/model_config.h"

namespace personas {

struct EmbedSettings {
  EmbedConfig embed;
  RunConfig run;      // dir (the default checkpoint's place), backend
  ModelConfig model;  // the checkpoint of embed.embedder = model
  // distill.base_url: the HTTP embedder's address when embed.base_url is empty.
  std::string fallback_base_url;
};

}  // namespace personas
