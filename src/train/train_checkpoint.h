// Training checkpoints, one folder per adapter and step:
//   RUN/train/checkpoints/<adapter>/step-00000120/
//     state.h5                      adapter params, AdamW m and v (f32), the
//                                   step and the adapter's shape (group rank 0)
//     position-rank-0000r.json      per rank: step, epoch, batch in epoch,
//                                   seed, group rank/size (the data position
//                                   and RNG state: shuffles and dropout masks
//                                   are pure functions of seed, epoch, step),
//                                   and with train.keep_best_z the rank's
//                                   slice of the kept pass's per-sample
//                                   validation losses (a resume on the same
//                                   group size needs no validation pass)
//     DONE                          written by group rank 0 after a barrier
// Every file is written atomically; a folder without DONE is incomplete and
// ignored (and removed by the next prune). Resume picks the complete folder
// with the highest step.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "comm/comm.h"
#include "core/fs.h"

namespace personas {

struct TrainState {
  std::int64_t step = 0;           // optimiser steps done
  std::uint64_t seed = 0;          // the adapter's seed
  std::vector<float> params;       // the LoRA arena's sections, flat
  std::vector<float> adam_m;
  std::vector<float> adam_v;
  double last_val_loss = -1;       // for logs after a resume
  // train.keep_best: the parameters of the lowest validation loss so far
  // (empty when not kept), its step and loss.
  std::vector<float> best_params;
  std::int64_t best_step = -1;
  double best_val_loss = -1;
};

struct RankPosition {
  std::int64_t step = 0;
  std::int64_t epoch = 0;
  std::int64_t batch_in_epoch = 0;
  std::uint64_t seed = 0;
  int group_rank = 0;
  int group_size = 1;
  std::vector<double> best_sample_losses;  // this rank's slice of the kept pass (empty = none)
};

fs::path checkpoint_folder(const fs::path& adapter_dir, std::int64_t step);

// Collective over the adapter's group: rank 0 writes state.h5, every rank its
// position file; barrier; rank 0 writes DONE, then prunes to the last `keep`.
void save_checkpoint(const fs::path& adapter_dir, const TrainState& state, const RankPosition& position,
                     Comm& group, int keep);

// The step of the latest complete checkpoint, if any.
std::optional<std::int64_t> latest_complete_checkpoint(const fs::path& adapter_dir);

// This rank's kept-pass losses from its position file of a complete
// checkpoint, when that file exists, was written by the same group rank of a
// group of the same size, and holds them; nullopt otherwise (an older
// checkpoint, another rank count: the caller recomputes them).
std::optional<std::vector<double>> load_rank_best_losses(const fs::path& adapter_dir, std::int64_t step,
                                                         int group_rank, int group_size);

// Loads state.h5 of a complete checkpoint; checks the arena size.
TrainState load_checkpoint_state(const fs::path& adapter_dir, std::int64_t step, std::int64_t n_params);

// Keeps the `keep` latest complete checkpoints; removes older ones and
// incomplete ones older than the latest complete.
void prune_checkpoints(const fs::path& adapter_dir, int keep);

}  // namespace personas
