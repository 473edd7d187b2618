#include "train/train_config.h"

#include <set>

#include "core/strings.h"

namespace personas {

std::vector<std::string> LoraConfig::target_list() const {
  std::vector<std::string> out;
  for (const auto& part : split(targets, ",")) {
    auto t = std::string(trim(part));
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

void LoraConfig::describe(ConfigSchema& s) {
  s.add("lora.rank", &rank, "LoRA rank r (paper: 256)");
  s.add("lora.alpha", &alpha, "LoRA alpha; the update is scaled by alpha / rank (paper: 32)");
  s.add("lora.dropout", &dropout, "dropout on the adapter input while training (paper: 0.1)");
  s.add("lora.targets", &targets,
        "modules that get an adapter, comma list of q,k,v (slices of the fused qkv_proj), o_proj, gate_up_proj, down_proj (paper: q,k)");
  s.add_check([this](Problems& p) {
    if (rank < 1) p.add("lora.rank: {} must be >= 1", rank);
    if (!(alpha > 0)) p.add("lora.alpha: {} must be > 0", alpha);
    if (!(dropout >= 0 && dropout < 1)) p.add("lora.dropout: {} must be in [0, 1)", dropout);
    auto list = target_list();
    if (list.empty()) p.add("lora.targets: empty; name at least one of q,k,v,o_proj,gate_up_proj,down_proj");
    std::set<std::string> seen;
    for (const auto& t : list) {
      static const std::set<std::string> known = {"q", "k", "v", "o_proj", "gate_up_proj", "down_proj",
                                                   "q_proj", "k_proj", "v_proj", "o", "gate_up", "down"};
      if (!known.count(t))
        p.add("lora.targets: unknown target '{}' (allowed: q,k,v,o_proj,gate_up_proj,down_proj)", t);
      if (!seen.insert(t).second) p.add("lora.targets: '{}' listed twice", t);
    }
  });
}

const std::vector<std::pair<std::string, TrainMode>>& train_mode_names() {
  static const std::vector<std::pair<std::string, TrainMode>> names = {
      {"persona", TrainMode::persona}, {"global", TrainMode::global}, {"per-user", TrainMode::per_user}};
  return names;
}

const std::vector<std::pair<std::string, WarmStart>>& warm_start_names() {
  static const std::vector<std::pair<std::string, WarmStart>> names = {{"none", WarmStart::none},
                                                                       {"global", WarmStart::global}};
  return names;
}

std::string to_string(TrainMode mode) { return choice_word(train_mode_names(), mode); }

const std::vector<std::pair<std::string, PromptStyle>>& prompt_style_names() {
  static const std::vector<std::pair<std::string, PromptStyle>> names = {{"paper", PromptStyle::paper},
                                                                         {"compact", PromptStyle::compact}};
  return names;
}

const std::vector<std::pair<std::string, AnswerFormat>>& answer_format_names() {
  static const std::vector<std::pair<std::string, AnswerFormat>> names = {{"digit", AnswerFormat::digit},
                                                                          {"digit+reason", AnswerFormat::digit_reason}};
  return names;
}

const std::vector<std::pair<std::string, LossOn>>& loss_on_names() {
  static const std::vector<std::pair<std::string, LossOn>> names = {{"answer", LossOn::answer}, {"rating", LossOn::rating}};
  return names;
}

std::string to_string(PromptStyle style) { return choice_word(prompt_style_names(), style); }

void TrainConfig::describe(ConfigSchema& s) {
  s.add_choice("train.mode", &mode, train_mode_names(),
               "one adapter per persona (the method), one global adapter, or one per user (OPPU-style bound)");
  s.add("train.per_user_top", &per_user_top,
        "train.mode = per-user: adapters only for this many users, those with the most training-period ratings "
        "(ties to the earlier user); the others get none and the per_user agent does not rate them. 0 = every user");
  s.add("train.lr", &lr, "peak learning rate of AdamW (paper: 3e-4)");
  s.add("train.weight_decay", &weight_decay, "AdamW decoupled weight decay");
  s.add("train.beta1", &beta1, "AdamW beta1");
  s.add("train.beta2", &beta2, "AdamW beta2");
  s.add("train.adam_eps", &adam_eps, "AdamW epsilon");
  s.add("train.grad_clip", &grad_clip, "clip the global gradient L2 norm to this (0 = no clipping)");
  s.add_choice("train.schedule", &schedule, schedule_kind_names(),
               "learning-rate decay after the warmup");
  s.add("train.warmup_fraction", &warmup_fraction, "fraction of the optimiser steps spent warming up linearly");
  s.add("train.min_lr_fraction", &min_lr_fraction, "the decay ends at lr times this");
  s.add("train.epochs", &epochs, "passes over each adapter's samples (paper: 2)");
  s.add("train.global_batch", &global_batch,
        "samples per optimiser step, summed over the ranks that train one adapter");
  s.add("train.micro_batch", &micro_batch,
        "samples per forward/backward on one rank; global_batch / (micro_batch * group ranks) micro steps accumulate");
  s.add("train.bucket_by_length", &bucket_by_length, "group samples of similar length into batches (less padding)");
  s.add("train.seed", &seed, "seed of shuffling, dropout and adapter init (0 = derived from run.seed)");
  s.add("train.max_steps", &max_steps, "stop each adapter after this many optimiser steps (0 = run all epochs)");
  s.add("train.init_from", &init_from,
        "warm start: every adapter starts from this trained adapter (an .h5 of RUN/train/adapters, e.g. the "
        "global one of an earlier `train --train.mode global`; same base and LoRA shape) instead of the seeded "
        "init (empty = seeded init)");
  s.add_choice("train.warm_start", &warm_start, warm_start_names(),
               "global: the stage first trains one global adapter on every sample (RUN/train/adapters/global.h5, "
               "all ranks), then every persona or per-user adapter starts from it; none: each starts from the "
               "seeded init (or train.init_from)");
  s.add("train.warm_lr", &warm_lr,
        "warm_start = global: peak learning rate of the adapters that start from the global one (fine-tuning; "
        "0 = train.lr)");
  s.add("train.warm_max_steps", &warm_max_steps,
        "warm_start = global: optimiser steps of each adapter that starts from the global one (fine-tuning is "
        "shorter than the global run; 0 = train.max_steps). Neither warm_* key makes the global adapter stale");
  s.add_choice("train.prompt_style", &prompt_style, prompt_style_names(),
               "paper: the paper's sections (PERSONA, YOUR MEMORIES, TASK, MOVIE); compact: short lines for small contexts");
  s.add_choice("train.answer", &answer, answer_format_names(),
               "the trained answer: the rating digit, or the digit then a short reason from the user's note");
  s.add_choice("train.loss_on", &loss_on, loss_on_names(),
               "answer: the loss covers every answer token (digit, end tag, EOS; generation learns to stop); "
               "rating: only the rating digit's token, the one expected-mode scoring reads");
  s.add("train.retrieve_k", &retrieve_k, "memories retrieved per sample (RAFT; paper: 1; 0 = profile only)");
  s.add("train.profile_words", &profile_words,
        "at most this many words of the profile in each prompt, from its start (0 = the whole profile); the offline "
        "profile opens with the count, average rating and offset from item averages");
  s.add("train.traits", &traits,
        "put the activity/conformity/diversity sentences in each prompt (paper: yes; small models spend tokens on them)");
  s.add("train.prompt_estimate", &prompt_estimate,
        "the item line also states the user + item bias estimate from training-period ratings, \"my expected "
        "rating 3.8\" (one pass of the bias baseline's fit, leave-one-out on training samples; "
        "train/rating_estimate.h): the agent starts from the classical estimate and learns where to depart from it");
  s.add("train.max_seq_len", &max_seq_len, "longest sample in tokens (0 = model.max_seq); never above the model's context");
  s.add("train.reason_words", &reason_words, "digit+reason: at most this many words of reason");
  s.add("train.val_fraction", &val_fraction,
        "the latest fraction of each user's training period held out for the validation loss");
  s.add("train.val_every", &val_every, "optimiser steps between validation passes (0 = only at the end)");
  s.add("train.val_max_samples", &val_max_samples, "validation samples per adapter at most (0 = all)");
  s.add("train.keep_best", &keep_best,
        "save each adapter as it was at its lowest validation loss over the validation passes (every "
        "train.val_every steps, the end, and the start: a warm-started adapter that fine-tuning does not improve "
        "stays the warm start) instead of as it is after the last step");
  s.add("train.keep_best_z", &keep_best_z,
        "keep_best: a pass replaces the kept parameters only when it is lower per sample by more than this many "
        "standard errors of the paired difference over the same validation samples (one-sided; 2 = ~98%), so a "
        "drop within the noise of a few hundred samples keeps the earlier (e.g. warm-start) parameters; 0 = any "
        "lower loss");
  s.add("train.checkpoint_every", &checkpoint_every, "optimiser steps between checkpoints (0 = only at the end)");
  s.add("train.keep_checkpoints", &keep_checkpoints, "complete checkpoints kept (older ones are deleted)");
  s.add("train.resume", &resume, "continue from the latest complete checkpoint in RUN/train/checkpoints");
  s.add("train.log_every", &log_every, "optimiser steps between lines of RUN/train/log-rank-*.jsonl");
  s.add_check([this](Problems& p) {
    if (!(lr > 0)) p.add("train.lr: {} must be > 0", lr);
    if (loss_on == LossOn::rating && answer != AnswerFormat::digit)
      p.add("train.loss_on = rating trains the digit alone; train.answer = {} would train a reason it cuts off",
            choice_word(answer_format_names(), answer));
    if (weight_decay < 0) p.add("train.weight_decay: {} must be >= 0", weight_decay);
    if (!(beta1 >= 0 && beta1 < 1)) p.add("train.beta1: {} must be in [0, 1)", beta1);
    if (!(beta2 >= 0 && beta2 < 1)) p.add("train.beta2: {} must be in [0, 1)", beta2);
    if (!(adam_eps > 0)) p.add("train.adam_eps: {} must be > 0", adam_eps);
    if (grad_clip < 0) p.add("train.grad_clip: {} must be >= 0", grad_clip);
    if (!(warmup_fraction >= 0 && warmup_fraction < 1))
      p.add("train.warmup_fraction: {} must be in [0, 1)", warmup_fraction);
    if (!(min_lr_fraction >= 0 && min_lr_fraction <= 1))
      p.add("train.min_lr_fraction: {} must be in [0, 1]", min_lr_fraction);
    if (epochs < 1) p.add("train.epochs: {} must be >= 1", epochs);
    if (micro_batch < 1) p.add("train.micro_batch: {} must be >= 1", micro_batch);
    if (global_batch < 1) p.add("train.global_batch: {} must be >= 1", global_batch);
    if (global_batch >= 1 && micro_batch >= 1 && global_batch % micro_batch != 0)
      p.add("train.global_batch: {} is not a multiple of train.micro_batch {}", global_batch, micro_batch);
    if (max_steps < 0) p.add("train.max_steps: {} must be >= 0", max_steps);
    if (per_user_top < 0) p.add("train.per_user_top: {} must be >= 0 (0 = every user)", per_user_top);
    if (per_user_top > 0 && mode != TrainMode::per_user)
      p.add("train.per_user_top = {} needs train.mode = per-user", per_user_top);
    if (warm_lr < 0) p.add("train.warm_lr: {} must be >= 0 (0 = train.lr)", warm_lr);
    if (warm_max_steps < 0) p.add("train.warm_max_steps: {} must be >= 0 (0 = train.max_steps)", warm_max_steps);
    if (warm_start == WarmStart::global && mode == TrainMode::global)
      p.add("train.warm_start = global: train.mode is already global (use persona or per-user)");
    if (warm_start == WarmStart::global && !init_from.empty())
      p.add("train.warm_start = global and train.init_from = {}: choose one starting point", init_from);
    if (retrieve_k < 0) p.add("train.retrieve_k: {} must be >= 0", retrieve_k);
    if (profile_words < 0) p.add("train.profile_words: {} must be >= 0 (0 = the whole profile)", profile_words);
    if (max_seq_len < 0) p.add("train.max_seq_len: {} must be >= 0 (0 = model context)", max_seq_len);
    if (reason_words < 1) p.add("train.reason_words: {} must be >= 1", reason_words);
    if (!(val_fraction >= 0 && val_fraction < 1)) p.add("train.val_fraction: {} must be in [0, 1)", val_fraction);
    if (val_every < 0) p.add("train.val_every: {} must be >= 0", val_every);
    if (val_max_samples < 0) p.add("train.val_max_samples: {} must be >= 0", val_max_samples);
    if (!(keep_best_z >= 0)) p.add("train.keep_best_z: {} must be >= 0", keep_best_z);
    if (keep_best_z > 0 && !keep_best) p.add("train.keep_best_z = {} needs train.keep_best = true", keep_best_z);
    if (checkpoint_every < 0) p.add("train.checkpoint_every: {} must be >= 0", checkpoint_every);
    if (keep_checkpoints < 1) p.add("train.keep_checkpoints: {} must be >= 1", keep_checkpoints);
    if (log_every < 1) p.add("train.log_every: {} must be >= 1", log_every);
  });
}

}  // namespace personas
