// One loader for everything that runs a checkpoint (training, agents, local
// distillation, the model embedder, `personas generate`): the checkpoint is
// read, its tokenizer built (with an optional chat-template override), the
// backend chosen, the base uploaded once (bf16 on a GPU by default:
// model/base_dtype.h), and the host copy of the weights freed after upload
// (the device copy is the only one; merged_weights reads it back). Adapters are loaded into the arenas by the caller (their file
// format lives with training: train/adapter_export.h).
//
//   Engine e = load_engine(path, {.backend = BackendKind::automatic, .spec = spec, .n_adapters = 3});
//   e.model->forward_backward(batch);  e.tokenizer->encode(text);
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/fs.h"
#include "model/device_dtype_setting.h"
#include "model/lora_model.h"
#include "model/tokenizer.h"

namespace personas {

struct EngineOptions {
  BackendKind backend = BackendKind::automatic;  // run.backend
  int device_index = 0;
  LoraSpec spec;                  // the adapters' spec (any spec when n_adapters = 0)
  int n_adapters = 0;             // arenas created zero-initialised (B = 0: the base model)
  std::string chat_template;      // "" = the checkpoint's; else a name (model.chat_template)
  DeviceDtypeSetting device_dtype = DeviceDtypeSetting::automatic;  // the base's matrices on the device (model.device_dtype)
  std::string what = "model";     // who loads it, for messages ("train", "eval agents", ...)
};

struct Engine {
  fs::path path;
  Phi3Config config;
  std::string fingerprint;                // base_fingerprint of the weights (adapters carry it)
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<LoraModel> model;
};

// ErrorKind::io (with a hint) when the checkpoint is missing; ErrorKind::data
// when its tokenizer has more tokens than the embedding has rows; ErrorKind::config
// naming model.chat_template for an unknown template name, or model.device_dtype
// for bf16 on a backend without it.
Engine load_engine(const fs::path& checkpoint, const EngineOptions& options);

}  // namespace personas
