// [lora] and [train]: the adapter's shape and how it is trained (stage 3 of
// docs/PAPER.md). Defaults reproduce the paper where it is specific (LoRA on
// q and k, rank 256, alpha 32, dropout 0.1, AdamW, lr 3e-4, 2 epochs); the
// rest (batch, schedule, clipping, seeds) are our choices, documented in
// docs/training.md.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/config_schema.h"
#include "train/lr_schedule.h"

namespace personas {

struct LoraConfig {
  int rank = 256;
  double alpha = 32.0;          // scale = alpha / rank
  double dropout = 0.1;         // on the adapter's input, training only
  std::string targets = "q,k";  // comma list of q,k,v,o_proj,gate_up_proj,down_proj (model/lora_spec.h)

  // "q,k" -> {"q", "k"}, validated.
  std::vector<std::string> target_list() const;
  void describe(ConfigSchema& schema);
};

// train.mode: which adapters the stage trains.
enum class TrainMode { persona, global, per_user };
// train.warm_start: where the persona or per-user adapters start.
enum class WarmStart { none, global };
// The words of the configuration ("persona", "global", "per-user"; "none", "global").
const std::vector<std::pair<std::string, TrainMode>>& train_mode_names();
const std::vector<std::pair<std::string, WarmStart>>& warm_start_names();
std::string to_string(TrainMode mode);
// train.prompt_style: the paper's sections, or short lines for small contexts.
enum class PromptStyle { paper, compact };
const std::vector<std::pair<std::string, PromptStyle>>& prompt_style_names();
std::string to_string(PromptStyle style);
// train.answer: the rating digit alone, or the digit then a short reason.
enum class AnswerFormat { digit, digit_reason };
// train.loss_on: every answer token, or only the rating digit's.
enum class LossOn { answer, rating };
const std::vector<std::pair<std::string, AnswerFormat>>& answer_format_names();
const std::vector<std::pair<std::string, LossOn>>& loss_on_names();


struct TrainConfig {
  TrainMode mode = TrainMode::persona;
  std::int64_t per_user_top = 0;      // mode = per-user: adapters for this many most-rated users (0 = every user)
  // optimiser
  double lr = 3e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double adam_eps = 1e-8;
  double grad_clip = 1.0;             // global L2 norm; 0 = off
  // schedule
  ScheduleKind schedule = ScheduleKind::cosine;  // after warmup
  double warmup_fraction = 0.03;      // of the total optimiser steps
  double min_lr_fraction = 0.0;       // the decay ends at lr * this
  // batches
  int epochs = 2;
  int global_batch = 16;              // samples per optimiser step (over the persona's group)
  int micro_batch = 4;                // samples per forward/backward on one rank
  bool bucket_by_length = true;       // batches of similar lengths (less padding)
  std::int64_t seed = 0;              // 0 = derive from run.seed
  std::int64_t max_steps = 0;         // stop after this many optimiser steps per adapter (0 = no limit)
  std::string init_from;              // start every adapter from this trained adapter (.h5); empty = seeded init
  WarmStart warm_start = WarmStart::none;  // global: persona/per-user adapters start from one global adapter
  double warm_lr = 0;                 // warm_start = global: peak lr of the adapters that start from it (0 = lr)
  std::int64_t warm_max_steps = 0;    // warm_start = global: max_steps of the adapters that start from it (0 = max_steps)
  // samples
  PromptStyle prompt_style = PromptStyle::paper;
  AnswerFormat answer = AnswerFormat::digit;
  LossOn loss_on = LossOn::answer;
  int retrieve_k = 1;                 // memories retrieved per sample
  int profile_words = 0;              // at most this many words of the profile in a prompt (0 = all)
  bool traits = true;                 // the activity/conformity/diversity sentences in prompts
  bool prompt_estimate = false;       // the item line states the user + item bias estimate
  int max_seq_len = 0;                // 0 = model.max_seq (capped by the model's context)
  int reason_words = 24;              // digit+reason: words of the note kept
  // validation
  double val_fraction = 0.1;          // latest training-period interactions per user held out
  int val_every = 50;                 // optimiser steps between validation passes (0 = only at the end)
  int val_max_samples = 256;          // cap per adapter
  bool keep_best = false;             // save the adapter of the lowest validation loss (the start included)
  double keep_best_z = 0;             // a lower pass replaces the kept one only by this many paired standard errors
  // checkpoints and logs
  int checkpoint_every = 100;         // optimiser steps (0 = only at the end of an adapter)
  int keep_checkpoints = 2;           // complete checkpoints kept
  bool resume = true;                 // continue from the latest complete checkpoint
  int log_every = 1;                  // optimiser steps between JSONL lines

  void describe(ConfigSchema& schema);
};

}  // namespace personas
