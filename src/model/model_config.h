// [model]: which frozen base model the agents use.
//   model.path empty  -> the `model` stage makes RUN/model/base.h5: a random
//                        checkpoint of model.preset with a SentencePiece
//                        tokenizer trained on the run's own distilled texts
//                        (the quickstart; nothing is downloaded).
//   model.path = FILE -> that checkpoint (`personas convert` output).
#pragma once

#include <cstdint>
#include <string>

#include "core/config_schema.h"
#include "core/fs.h"
#include "model/device_dtype_setting.h"
#include "model/init_model.h"
#include "model/tokenizer.h"

namespace personas {

struct ModelConfig {
  std::string path;              // checkpoint (HDF5); empty = made by the model stage
  ModelPreset preset = ModelPreset::tiny;  // tiny|small|phi3-mini (only when path is empty)
  std::string tokenizer;         // SentencePiece .model for a made model; empty = train one
  SentencePieceAdded tokenizer_added = SentencePieceAdded::auto_detect;  // added tokens of model.tokenizer: auto|phi3|chat|none
  int tokenizer_vocab = 1000;    // vocabulary of a trained tokenizer
  int max_seq = 512;             // longest sequence (prompt + answer) fed to the model
  std::string chat_template;     // "" = the checkpoint's; none|phi3|chatml|llama3|plain overrides it
  DeviceDtypeSetting device_dtype = DeviceDtypeSetting::automatic;  // the frozen base on the device: auto (bf16 on CUDA, f32 on CPU)|bf16|f32

  void describe(ConfigSchema& schema);
  // The checkpoint the later stages load: `path`, or RUN/model/base.h5.
  fs::path checkpoint(const fs::path& run_dir) const;
};

}  // namespace personas
