// The `train` stage (collective over every rank):
//   data + memories + personas + item vectors  -> RAFT samples (per rank, its users)
//   -> one adapter per persona | one global | one per user (train.mode)
//   -> groups of ranks per adapter (persona_groups.h), samples sent to them
//   -> each group trains its adapters in turn (trainer.h), checkpoints on the way
//   -> RUN/train/adapters/<name>.h5, RUN/train/peft/<name>/, summary.json, DONE
// A restarted stage skips adapters already exported with the same config hash
// and resumes the others from their latest complete checkpoint.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/backend_kind.h"
#include "model/device_dtype_setting.h"
#include "comm/comm.h"
#include "core/fs.h"
#include "core/run_dir.h"
#include "data/data_config.h"
#include "train/train_config.h"

namespace personas {

inline constexpr const char* kTrainStage = "train";

struct TrainStageOptions {
  LoraConfig lora;
  TrainConfig train;
  std::int64_t run_seed = 1234;
  BackendKind backend = BackendKind::automatic;
  std::string config_hash;           // of everything the adapters depend on
  // warm_start = global: of everything the global adapter depends on (the
  // stage's hash with the warm_* keys neutral; "" = config_hash), so changing
  // how the warm-started adapters fine-tune keeps the global one done.
  std::string global_phase_hash;
  fs::path model_path;               // the base checkpoint ([model]: model.path or RUN/model/base.h5)
  int default_max_len = 512;         // model.max_seq, used when train.max_seq_len = 0
  std::string base_model_name;       // for adapter_config.json ("" = the checkpoint path)
  std::string chat_template;         // model.chat_template ("" = the checkpoint's)
  DeviceDtypeSetting device_dtype = DeviceDtypeSetting::automatic;  // model.device_dtype
  // Tests only: every adapter stops (as if killed) after this many optimiser steps of this call.
  std::int64_t interrupt_after = 0;
};

// Adapter file names: "persona-0003", "global", "user-<source id>".
std::string adapter_name(TrainMode mode, int adapter, std::int64_t user_id = 0);
// What every per-user adapter's name starts with.
inline constexpr std::string_view kPerUserAdapterPrefix = "user-";

// Collective. Returns the summary (also written to RUN/train/summary.json by rank 0).
nlohmann::json train_stage(const RunDir& run, Comm& world, const TrainStageOptions& options);

}  // namespace personas
