// The `samples` stage: the RAFT samples `personas train` would build, counted
// without being kept, so sample building can be measured (and its sizes
// planned) at millions of users on a machine that cannot train them.
//   RUN/prepare + RUN/distill + RUN/model (tokenizer) [+ RUN/cluster, RUN/embed/items.h5]
//   -> RUN/samples/summary.json (rank 0) and RUN/samples/DONE
// Each rank goes over its block of users in chunks of `chunk_users`: the
// chunk's users are read from RUN/prepare, the memories stream one record at a
// time (distill/memories.h visit_memories), each user's samples are built by
// the same code as train (append_user_samples with train_sample_options) and
// only counted (sample_summary.h). Memory: one chunk of the data set, one
// user's samples, the item vectors, and 16 bytes per user of the selection
// when RUN/cluster holds the personas. The summary is the same for any number
// of ranks (integer sums); docs/training.md describes its fields.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "comm/comm.h"
#include "core/fs.h"
#include "core/run_dir.h"
#include "train/train_config.h"

namespace personas {

inline constexpr const char* kSamplesStage = "samples";

struct SamplesStageOptions {
  TrainConfig train;              // the sample settings train would use
  fs::path model_path;            // its tokenizer and context length ([model]: model.path or RUN/model/base.h5)
  int default_max_len = 512;      // model.max_seq, used when train.max_seq_len = 0
  std::string chat_template;      // model.chat_template ("" = the checkpoint's)
  std::string config_hash;        // written into RUN/samples/DONE
  std::int64_t chunk_users = 10000;
};

// Collective. Returns the summary (written to RUN/samples/summary.json by rank 0).
nlohmann::json samples_stage(const RunDir& run, Comm& world, const SamplesStageOptions& options);

}  // namespace personas
