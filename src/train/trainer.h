// Training one adapter on the ranks of its group (train/persona_groups.h):
// AdamW with warmup + cosine/linear decay, gradient clipping, gradient
// accumulation over micro batches, length-bucketed global batches, a
// validation loss every N steps, checkpoints with exact resume, a JSONL line
// per step and a progress line with ETA.
//
// Data parallelism: every rank of the group holds all of the adapter's
// samples and computes the same batch plan; rank i computes its slice of each
// global batch. Each micro batch's gradient is scaled by 1 / (answer tokens
// in the whole global batch), so after the allreduce (sum) over the group the
// gradient is the mean token loss of the global batch whatever the group size.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "comm/comm.h"
#include "core/fs.h"
#include "io/jsonl.h"
#include "model/lora_model.h"
#include "train/samples.h"
#include "train/train_config.h"

namespace personas {

struct AdapterData {
  int adapter = 0;           // global adapter index (persona id, user ordinal, or 0)
  std::string name;          // "persona-0003", "global", "user-000042"
  std::vector<Sample> train; // canonical order (user id, then time)
  std::vector<Sample> val;
};

struct TrainerOptions {
  TrainConfig train;
  std::uint64_t seed = 0;          // the adapter's seed (init, shuffles, dropout)
  std::int32_t pad_id = 0;
  fs::path checkpoint_dir;         // RUN/train/checkpoints/<name>; empty = no checkpoints
  JsonlAppender* log = nullptr;    // per-rank metrics
  std::string base_fingerprint;    // checked against train.init_from's adapter when set
  // Testing hook: return (as if the process were killed) after this many
  // optimiser steps of this call (0 = never).
  std::int64_t interrupt_after = 0;
};

struct AdapterResult {
  std::int64_t steps = 0;           // optimiser steps done in total (including before a resume)
  std::int64_t total_steps = 0;
  std::int64_t resumed_from = -1;   // checkpoint step, -1 = fresh start
  bool interrupted = false;
  bool stopped = false;             // interrupted by a graceful stop (core/stop_request.h), checkpoint saved
  std::vector<std::pair<std::int64_t, double>> train_loss;  // (step, group mean token loss) of this call
  std::vector<std::pair<std::int64_t, double>> val_loss;    // (step, validation loss)
  double initial_val_loss = -1;     // before any update (fresh starts only)
  std::int64_t kept_step = -1;      // train.keep_best: the step whose parameters the arena holds at the end
  double kept_val_loss = -1;        // and its validation loss
  int lower_not_kept = 0;           // train.keep_best_z: passes lower than the kept one, but within the noise
  double tokens_per_s = 0;          // this rank, forward+backward tokens (padding excluded)
  std::int64_t tokens = 0;
  double seconds = 0;
};

// Trains adapter `arena` of `model` on `data` over `group` (the ranks that
// share this adapter; every one calls this with the same data).
AdapterResult train_adapter(LoraModel& model, int arena, const AdapterData& data, Comm& group,
                            const TrainerOptions& options);

// Mean token loss over samples (split over the group, allreduced); dropout off.
double validation_loss(LoraModel& model, int arena, const std::vector<Sample>& samples, Comm& group,
                       int micro_batch, std::int32_t pad_id);

// One validation pass: the group's mean token loss, and each of this rank's
// samples' own mean token loss (its slice of the group, in order).
struct ValidationPass {
  double loss = -1;
  std::vector<double> sample_losses;
};
ValidationPass validation_pass(LoraModel& model, int arena, const std::vector<Sample>& samples, Comm& group,
                               int micro_batch, std::int32_t pad_id);

// The paired difference of two passes over the same samples (each rank its
// slice): mean of (candidate - kept) per sample and its standard error, over
// the group. Collective.
struct PairedLoss {
  double mean_diff = 0;
  double std_error = 0;
  std::int64_t n = 0;
};
PairedLoss paired_loss_difference(const std::vector<double>& candidate, const std::vector<double>& kept, Comm& group);

}  // namespace personas
