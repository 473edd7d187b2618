#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <optional>

#include "core/errors.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/stop_request.h"
#include "train/adapter_export.h"
#include "train/batching.h"
#include "train/lr_schedule.h"
#include "train/train_checkpoint.h"

namespace personas {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

TokenBatch make_batch(const std::vector<Sample>& samples, std::span<const std::int32_t> indices, int arena,
                      std::int32_t pad_id) {
  std::vector<std::vector<std::int32_t>> seqs;
  std::vector<int> begins;
  seqs.reserve(indices.size());
  for (auto i : indices) {
    const Sample& s = samples[static_cast<std::size_t>(i)];
    seqs.push_back(s.ids);
    begins.push_back(s.answer_begin);
  }
  TokenBatch b = TokenBatch::from_sequences(seqs, begins, pad_id);
  if (arena != 0) b.adapters.assign(static_cast<std::size_t>(b.batch), arena);
  return b;
}

// A device-side gradient reducer for the group (NCCL) when every rank's
// backend has one, else nullptr (the gradients then go through the host and
// the group's Comm). Collective over the group.
std::unique_ptr<DeviceGroupReducer> device_reducer(Backend& backend, Comm& group) {
  if (group.size() <= 1) return nullptr;
  std::int64_t every_rank_can = backend.supports_group_reduce() ? 1 : 0;
  group.allreduce(std::span<std::int64_t>(&every_rank_can, 1), ReduceOp::min);
  if (every_rank_can == 0) return nullptr;
  std::vector<std::uint8_t> id;
  std::int64_t id_bytes = 0;
  if (group.rank() == 0) {
    id = backend.group_reducer_id();
    id_bytes = static_cast<std::int64_t>(id.size());
  }
  group.broadcast(&id_bytes, sizeof id_bytes, 0);
  id.resize(static_cast<std::size_t>(id_bytes));
  group.broadcast(id.data(), id.size(), 0);
  return backend.make_group_reducer(id, group.size(), group.rank());
}

// A subsample of at most `cap` validation samples, spread evenly (not the first users only).
std::vector<Sample> capped(const std::vector<Sample>& val, int cap) {
  if (cap <= 0 || static_cast<int>(val.size()) <= cap) return val;
  std::vector<Sample> out;
  out.reserve(static_cast<std::size_t>(cap));
  for (int i = 0; i < cap; ++i)
    out.push_back(val[static_cast<std::size_t>(static_cast<double>(i) * static_cast<double>(val.size()) / cap)]);
  return out;
}

}  // namespace

ValidationPass validation_pass(LoraModel& model, int arena, const std::vector<Sample>& samples, Comm& group,
                               int micro_batch, std::int32_t pad_id) {
  ValidationPass pass;
  if (samples.empty()) return pass;
  std::vector<std::int32_t> all(samples.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::int32_t>(i);
  auto mine = rank_slice(all, group.rank(), group.size());
  model.set_training(false);
  double sums[2] = {0, 0};
  pass.sample_losses.reserve(mine.size());
  for (std::size_t b = 0; b < mine.size(); b += static_cast<std::size_t>(micro_batch)) {
    auto part = mine.subspan(b, std::min<std::size_t>(static_cast<std::size_t>(micro_batch), mine.size() - b));
    auto r = model.loss(make_batch(samples, part, arena, pad_id));
    sums[0] += r.loss_sum;
    sums[1] += static_cast<double>(r.n_tokens);
    for (std::size_t row = 0; row < part.size(); ++row)
      pass.sample_losses.push_back(r.row_tokens[row] > 0 ? r.row_loss_sum[row] / r.row_tokens[row] : 0.0);
  }
  group.allreduce(std::span<double>(sums, 2), ReduceOp::sum);
  model.set_training(true);
  pass.loss = sums[1] > 0 ? sums[0] / sums[1] : -1;
  return pass;
}

double validation_loss(LoraModel& model, int arena, const std::vector<Sample>& samples, Comm& group,
                       int micro_batch, std::int32_t pad_id) {
  return validation_pass(model, arena, samples, group, micro_batch, pad_id).loss;
}

PairedLoss paired_loss_difference(const std::vector<double>& candidate, const std::vector<double>& kept, Comm& group) {
  PERSONAS_ASSERT(candidate.size() == kept.size(), "paired validation losses: {} against {} samples",
                  candidate.size(), kept.size());
  double sums[3] = {0, 0, static_cast<double>(candidate.size())};
  for (std::size_t i = 0; i < candidate.size(); ++i) {
    const double d = candidate[i] - kept[i];
    sums[0] += d;
    sums[1] += d * d;
  }
  group.allreduce(std::span<double>(sums, 3), ReduceOp::sum);
  PairedLoss out;
  out.n = static_cast<std::int64_t>(sums[2]);
  if (out.n == 0) return out;
  out.mean_diff = sums[0] / sums[2];
  if (out.n > 1) {
    const double var = std::max(0.0, (sums[1] - sums[0] * sums[0] / sums[2]) / (sums[2] - 1));
    out.std_error = std::sqrt(var / sums[2]);
  }
  return out;
}

namespace {

// train.keep_best: the lowest validation loss so far and the parameters that
// gave it. With keep_best_z > 0 a lower pass must also beat the kept one per
// sample by keep_best_z paired standard errors (sample_losses: this rank's
// slice of the kept pass).
struct KeptBest {
  std::vector<float> params;
  std::int64_t step = -1;
  double val = -1;
  std::vector<double> sample_losses;

  // Keeps the arena's parameters when `pass` (at step `at`) is the best so far.
  void consider(std::int64_t at, ValidationPass& pass, const LoraArena& arena, Comm& group, const TrainConfig& tc,
                const std::string& name, AdapterResult& result) {
    if (!tc.keep_best || pass.loss < 0 || (step >= 0 && !(pass.loss < val))) return;
    if (step >= 0 && tc.keep_best_z > 0) {
      const PairedLoss d = paired_loss_difference(pass.sample_losses, sample_losses, group);
      if (!(d.mean_diff < -tc.keep_best_z * d.std_error)) {
        ++result.lower_not_kept;
        plog::debug("train: {} step {}: validation {:.5f} < {:.5f} of step {}, but per sample {:+.5f} +- {:.5f} "
                    "(z {:.2f} < {}): keeps step {}",
                    name, at, pass.loss, val, step, d.mean_diff, d.std_error,
                    d.std_error > 0 ? -d.mean_diff / d.std_error : 0.0, tc.keep_best_z, step);
        return;
      }
    }
    params = arena.to_host(0);
    step = at;
    val = pass.loss;
    sample_losses = std::move(pass.sample_losses);
  }
};

// Where a call starts: the step, the last validation loss, and the kept best.
struct StartPoint {
  std::int64_t step = 0;
  double last_val = -1;
  KeptBest best;
};

// The step of the checkpoint to resume from, picked by the group's rank 0 and
// broadcast: a rank listing the folder itself could see a step another rank is writing.
std::optional<std::int64_t> resume_step_of(const TrainerOptions& options, Comm& group) {
  if (options.checkpoint_dir.empty() || !options.train.resume) return std::nullopt;
  std::int64_t latest = -1;
  if (group.rank() == 0) latest = latest_complete_checkpoint(options.checkpoint_dir).value_or(-1);
  group.broadcast(&latest, sizeof latest, 0);
  return latest >= 0 ? std::optional<std::int64_t>(latest) : std::nullopt;
}

// The arena, optimiser state and kept best of checkpoint `at`.
StartPoint resume_from(std::int64_t at, LoraArena& arena, Comm& group, const TrainerOptions& options,
                       const std::function<ValidationPass()>& validate_now) {
  const TrainConfig& tc = options.train;
  auto state = load_checkpoint_state(options.checkpoint_dir, at, arena.n_params());
  PERSONAS_CHECK_HINT(state.seed == options.seed, config, "delete RUN/train/checkpoints or restore the seed to resume",
                      "{}: checkpoint seed {} differs from this run's seed {}", options.checkpoint_dir.string(),
                      state.seed, options.seed);
  arena.from_host(0, state.params);
  arena.from_host(2, state.adam_m);
  arena.from_host(3, state.adam_v);
  arena.zero_grads();
  StartPoint start;
  start.step = state.step;
  start.last_val = state.last_val_loss;
  start.best.params = std::move(state.best_params);
  start.best.step = state.best_step;
  start.best.val = state.best_val_loss;
  if (tc.keep_best && tc.keep_best_z > 0 && start.best.step >= 0) {
    // The kept pass's per-sample losses: from every rank's position file when
    // each has its slice for this group size, else recomputed from the kept
    // parameters (dropout is off, so they are the same) in one validation pass.
    auto saved = load_rank_best_losses(options.checkpoint_dir, at, group.rank(), group.size());
    const double missing = group.allreduce_sum(saved ? 0.0 : 1.0);
    if (missing == 0) {
      start.best.sample_losses = std::move(*saved);
    } else {
      arena.from_host(0, start.best.params);
      start.best.sample_losses = validate_now().sample_losses;
      arena.from_host(0, state.params);
    }
  }
  return start;
}

// A fresh start: the seeded initialisation (or train.init_from's weights), no
// optimiser state, and the validation pass before any update.
StartPoint start_fresh(LoraModel& model, LoraArena& arena, Comm& group, const AdapterData& data,
                       const TrainerOptions& options, const std::function<ValidationPass()>& validate_now,
                       AdapterResult& result) {
  const TrainConfig& tc = options.train;
  arena.initialize(options.seed);
  if (!tc.init_from.empty()) {  // warm start: the trained weights replace the seeded init
    PERSONAS_CHECK_HINT(fs::exists(tc.init_from), config, "train the adapter first (e.g. train.mode = global)",
                        "train.init_from: {} does not exist", tc.init_from);
    load_adapter_into(tc.init_from, arena, model.config(), options.base_fingerprint);
    plog::info("train: {} starts from {}", data.name, tc.init_from);
  }
  arena.zero_optimizer_state();
  StartPoint start;
  auto pass = validate_now();
  result.initial_val_loss = pass.loss;
  result.val_loss.emplace_back(0, result.initial_val_loss);
  start.best.consider(0, pass, arena, group, tc, data.name, result);
  return start;
}

// Sums the gradients over the group (on the device when every rank can, else
// through the host), clips their global norm on the device and takes the
// AdamW step; returns the norm before clipping. A group of one copies nothing
// to the host but the norm. On the CPU the sum and the scaling are the same
// arithmetic, in the same order, as the host loop they replace (bit-identical losses).
double reduce_clip_and_step(LoraArena& arena, Backend& backend, DeviceGroupReducer* reducer, Comm& group,
                            std::vector<float>& host_grads, const TrainConfig& tc, double lr, std::int64_t step) {
  if (reducer) {
    reducer->allreduce_sum(arena.grads());
  } else if (group.size() > 1) {
    host_grads = arena.to_host(1);
    group.allreduce(std::span<float>(host_grads), ReduceOp::sum);
    arena.from_host(1, host_grads);
  }
  const double grad_norm = std::sqrt(backend.sum_squares(arena.grads()));
  if (tc.grad_clip > 0 && grad_norm > tc.grad_clip)
    backend.scale(arena.grads(), static_cast<float>(tc.grad_clip / (grad_norm + 1e-6)));
  AdamWParams p;
  p.lr = static_cast<float>(lr);
  p.beta1 = static_cast<float>(tc.beta1);
  p.beta2 = static_cast<float>(tc.beta2);
  p.eps = static_cast<float>(tc.adam_eps);
  p.weight_decay = static_cast<float>(tc.weight_decay);
  p.step = step + 1;
  arena.adamw_step(p);
  return grad_norm;
}

// The checkpoint of `step`: parameters, optimiser state and the kept best
// from the group's rank 0, every rank's position (and its slice of the kept
// pass's losses).
void save_step(const LoraArena& arena, Comm& group, const TrainerOptions& options, std::int64_t step,
               std::int64_t steps_per_epoch, double last_val, const KeptBest& best) {
  const TrainConfig& tc = options.train;
  TrainState state;
  state.step = step;
  state.seed = options.seed;
  state.last_val_loss = last_val;
  if (group.rank() == 0) {
    state.params = arena.to_host(0);
    state.adam_m = arena.to_host(2);
    state.adam_v = arena.to_host(3);
    state.best_params = best.params;
    state.best_step = best.step;
    state.best_val_loss = best.val;
  }
  RankPosition pos{step, step / steps_per_epoch, step % steps_per_epoch, options.seed, group.rank(), group.size(), {}};
  if (tc.keep_best && tc.keep_best_z > 0) pos.best_sample_losses = best.sample_losses;
  save_checkpoint(options.checkpoint_dir, state, pos, group, tc.keep_checkpoints);
}

// The forward and backward passes of this rank's slice of one batch, in micro
// batches; returns the summed token loss and counts the tokens.
double accumulate_gradients(LoraModel& model, int arena_index, const AdapterData& data,
                            std::span<const std::int32_t> mine, int micro_batch, std::int32_t pad_id, float scale,
                            std::int64_t& tokens) {
  double loss_sum = 0;
  for (std::size_t b = 0; b < mine.size(); b += static_cast<std::size_t>(micro_batch)) {
    auto part = mine.subspan(b, std::min<std::size_t>(static_cast<std::size_t>(micro_batch), mine.size() - b));
    const TokenBatch tb = make_batch(data.train, part, arena_index, pad_id);
    loss_sum += model.forward_backward(tb, scale).loss_sum;
    for (auto l : tb.lengths) tokens += l;
  }
  return loss_sum;
}

}  // namespace

AdapterResult train_adapter(LoraModel& model, int arena_index, const AdapterData& data, Comm& group,
                            const TrainerOptions& options) {
  const TrainConfig& tc = options.train;
  PERSONAS_CHECK(!data.train.empty(), data, "train: adapter {} has no training samples", data.name);
  LoraArena& arena = model.adapter(arena_index);
  AdapterResult result;

  const std::int64_t spe = steps_per_epoch(static_cast<std::int64_t>(data.train.size()), tc.global_batch);
  std::int64_t total = spe * tc.epochs;
  if (tc.max_steps > 0) total = std::min(total, tc.max_steps);
  result.total_steps = total;
  LrSchedule schedule{tc.lr, total, warmup_steps_for(total, tc.warmup_fraction), tc.schedule, tc.min_lr_fraction};
  const auto val_samples = capped(data.val, tc.val_max_samples);
  const std::function<ValidationPass()> validate_now = [&] {
    return validation_pass(model, arena_index, val_samples, group, tc.micro_batch, options.pad_id);
  };

  // Fresh start or resume.
  StartPoint start;
  if (const auto resume_step = resume_step_of(options, group)) {
    start = resume_from(*resume_step, arena, group, options, validate_now);
    result.resumed_from = start.step;
    plog::info("train: {} resumes from its checkpoint at step {}/{}", data.name, start.step, total);
  } else {
    start = start_fresh(model, arena, group, data, options, validate_now, result);
  }
  std::int64_t step = start.step;
  double last_val = start.last_val;
  KeptBest& best = start.best;
  model.set_training(true);

  std::vector<std::int32_t> lengths(data.train.size());
  for (std::size_t i = 0; i < lengths.size(); ++i) lengths[i] = static_cast<std::int32_t>(data.train[i].ids.size());
  std::int64_t planned_epoch = -1;
  EpochBatches epoch_batches;

  Progress progress(fmt::format("train {}", data.name), total - step, "steps", 10.0);
  Backend& backend = model.backend();
  const std::unique_ptr<DeviceGroupReducer> reducer = step < total ? device_reducer(backend, group) : nullptr;
  std::vector<float> host_grads;  // the host path of a group without a device reducer
  const double started = now_s();
  std::int64_t steps_this_call = 0;
  while (step < total) {
    const std::int64_t epoch = step / spe;
    const std::int64_t in_epoch = step % spe;
    if (epoch != planned_epoch) {
      epoch_batches = plan_epoch(lengths, tc.global_batch, options.seed, static_cast<int>(epoch), tc.bucket_by_length);
      planned_epoch = epoch;
    }
    const auto& batch = epoch_batches.batches[static_cast<std::size_t>(in_epoch)];
    std::int64_t batch_tokens = 0;
    for (auto i : batch) batch_tokens += data.train[static_cast<std::size_t>(i)].n_answer_tokens();
    const float scale = 1.0f / static_cast<float>(std::max<std::int64_t>(1, batch_tokens));
    const auto mine = rank_slice(batch, group.rank(), group.size());

    const double t0 = now_s();
    model.set_step(step);
    arena.zero_grads();
    std::int64_t tokens = 0;
    const double loss_sum =
        accumulate_gradients(model, arena_index, data, mine, tc.micro_batch, options.pad_id, scale, tokens);
    const double lr = schedule.at(step);
    const double grad_norm = reduce_clip_and_step(arena, backend, reducer.get(), group, host_grads, tc, lr, step);
    ++step;
    ++steps_this_call;

    // The group's loss, and whether any rank of the group must stop (a signal,
    // or RUN/STOP): one allreduce, so the group stops together after this step.
    double sums[2] = {loss_sum, stop_requested() ? 1.0 : 0.0};
    if (group.size() > 1) group.allreduce(std::span<double>(sums, 2), ReduceOp::sum);
    const double group_loss = sums[0];
    const bool stop = sums[1] > 0;
    if (stop) adopt_stop_request("another rank's request");
    const double mean_loss = group_loss / static_cast<double>(std::max<std::int64_t>(1, batch_tokens));
    result.train_loss.emplace_back(step, mean_loss);
    result.tokens += tokens;
    const double dt = now_s() - t0;

    nlohmann::json line = {{"step", step},
                           {"adapter", data.name},
                           {"persona", data.adapter},
                           {"epoch", epoch},
                           {"loss", mean_loss},
                           {"lr", lr},
                           {"grad_norm", grad_norm},
                           {"tokens", tokens},
                           {"tokens_per_s", dt > 0 ? static_cast<double>(tokens) / dt : 0.0},
                           {"group_size", group.size()},
                           // this rank's backend pool: the most bytes in use so far (docs/cuda.md)
                           {"device_peak_bytes", backend.memory_stats().peak_bytes}};
    const bool validate = step == total || (tc.val_every > 0 && step % tc.val_every == 0);
    if (validate && !val_samples.empty()) {
      auto pass = validate_now();
      last_val = pass.loss;
      result.val_loss.emplace_back(step, last_val);
      best.consider(step, pass, arena, group, tc, data.name, result);
      line["val_loss"] = last_val;
      plog::info("train: {} step {}/{}: train loss {:.4f}, validation loss {:.4f}", data.name, step, total, mean_loss,
                 last_val);
    }
    if (options.log && (step % tc.log_every == 0 || validate || step == total)) options.log->write(line);
    progress.advance(1);

    const bool checkpoint = !options.checkpoint_dir.empty() && step < total && tc.checkpoint_every > 0 &&
                            step % tc.checkpoint_every == 0;
    // Stopping: a checkpoint of this very step (unless just saved), so the rerun goes on from here.
    const bool stop_here = stop && step < total;
    if (checkpoint || (stop_here && !options.checkpoint_dir.empty()))
      save_step(arena, group, options, step, spe, last_val, best);
    if (stop_here) {
      result.interrupted = result.stopped = true;
      plog::info("train: {} stopped after step {}/{}{}", data.name, step, total,
                 options.checkpoint_dir.empty() ? " (no checkpoint folder: nothing saved)" : ", checkpoint saved");
      break;
    }
    if (options.interrupt_after > 0 && steps_this_call >= options.interrupt_after && step < total) {
      result.interrupted = true;
      break;
    }
  }
  progress.finish();
  if (tc.keep_best && !result.interrupted && best.step >= 0) {
    // Every rank of the group holds the same parameters (and so the same best).
    if (best.step != step) {
      arena.from_host(0, best.params);
      plog::info("train: {} keeps step {} (validation loss {:.4f}), not the last step {} ({:.4f}){}", data.name,
                 best.step, best.val, step, last_val,
                 result.lower_not_kept > 0
                     ? fmt::format("; {} lower pass(es) within {} standard errors not taken", result.lower_not_kept,
                                   tc.keep_best_z)
                     : std::string());
    }
    result.kept_step = best.step;
    result.kept_val_loss = best.val;
  }
  result.steps = step;
  result.seconds = now_s() - started;
  result.tokens_per_s = result.seconds > 0 ? static_cast<double>(result.tokens) / result.seconds : 0.0;
  return result;
}

}  // namespace personas
