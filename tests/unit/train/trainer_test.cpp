#include "train/trainer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <random>

#include "backend/backend.h"
#include "comm/comm.h"
#include "core/errors.h"
#include "core/fs.h"
#include "support/test_support.h"
#include "model/init_model.h"
#include "train/adapter_export.h"
#include "train/train_checkpoint.h"
#include "unit/train/tiny_model.h"

using namespace personas;

namespace {

// A fixed mapping: prompt "3 a b ..." -> answer token f(a, b) then an end token
// (`key_only`: the answer depends on a alone, the rest is noise).
AdapterData mapping_data(int n, std::uint64_t seed, int shift = 0, bool key_only = false) {
  std::mt19937_64 rng(seed);
  AdapterData d;
  d.name = "mapping";
  for (int i = 0; i < n; ++i) {
    Sample s;
    const int a = 10 + static_cast<int>(rng() % 8), b = 10 + static_cast<int>(rng() % 8);
    const int len = 3 + static_cast<int>(rng() % 4);
    s.ids = {3, a, b};
    for (int j = 3; j < len; ++j) s.ids.push_back(20 + static_cast<int>(rng() % 8));
    if (key_only) s.ids.push_back(a);  // the key right before the answer, after the noise
    s.answer_begin = static_cast<int>(s.ids.size());
    s.ids.push_back(30 + ((key_only ? a : a + b) + shift) % 5);  // the "rating"
    s.ids.push_back(2);                          // end
    s.user_id = i;
    (i % 5 == 4 ? d.val : d.train).push_back(std::move(s));
  }
  return d;
}

LoraSpec spec_all(int rank, float dropout) {
  LoraSpec s;
  s.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
               LoraTarget::down_proj};
  s.rank = rank;
  s.alpha = static_cast<float>(rank);
  s.dropout = dropout;
  s.seed = 5;
  return s;
}

TrainerOptions options(int epochs, int global_batch, int micro_batch, double lr) {
  TrainerOptions o;
  o.train.epochs = epochs;
  o.train.global_batch = global_batch;
  o.train.micro_batch = micro_batch;
  o.train.lr = lr;
  o.train.warmup_fraction = 0.05;
  o.train.val_every = 0;
  o.train.checkpoint_every = 0;
  o.seed = 99;
  return o;
}

}  // namespace

TEST(Trainer, TinyModelOverfitsAFixedMapping) {
  auto weights = personas::testing::tiny_phi3();
  auto backend = make_backend(BackendKind::cpu);
  LoraModel model(weights, *backend, spec_all(8, 0.0f));
  auto data = mapping_data(30, 3, 0, true);
  data.train.insert(data.train.end(), data.val.begin(), data.val.end());
  data.val = data.train;  // overfitting: measure on the training set itself
  auto comm = make_local_comm();
  auto o = options(20, 10, 5, 1e-2);
  o.train.schedule = ScheduleKind::cosine;
  auto r = train_adapter(model, 0, data, *comm, o);
  ASSERT_FALSE(r.val_loss.empty());
  EXPECT_GT(r.initial_val_loss, 1.0);
  EXPECT_LT(r.val_loss.back().second, 0.05) << "initial " << r.initial_val_loss;
  EXPECT_EQ(r.steps, 20 * 3);
}

TEST(Trainer, MicroBatchesAccumulateToTheSameUpdate) {
  auto weights = personas::testing::tiny_phi3();
  auto backend = make_backend(BackendKind::cpu);
  auto data = mapping_data(20, 4);
  auto comm = make_local_comm();
  std::vector<double> losses[2];
  for (int m : {0, 1}) {
    LoraModel model(weights, *backend, spec_all(4, 0.0f));
    auto r = train_adapter(model, 0, data, *comm, options(2, 8, m == 0 ? 8 : 2, 5e-3));
    for (auto& [s, l] : r.train_loss) losses[m].push_back(l);
  }
  ASSERT_EQ(losses[0].size(), losses[1].size());
  for (std::size_t i = 0; i < losses[0].size(); ++i) EXPECT_NEAR(losses[0][i], losses[1][i], 1e-4) << "step " << i;
}

TEST(Trainer, ResumedRunGivesExactlyTheSameLosses) {
  auto weights = personas::testing::tiny_phi3();
  auto backend = make_backend(BackendKind::cpu);
  auto data = mapping_data(30, 5);
  auto comm = make_local_comm();
  personas::testing::TempDir dir;
  auto o = options(3, 4, 2, 5e-3);
  o.train.checkpoint_every = 2;
  o.train.keep_checkpoints = 2;
  // Reference: uninterrupted, with checkpoints of its own.
  o.checkpoint_dir = dir / "reference";
  LoraModel reference_model(weights, *backend, spec_all(4, 0.1f));
  auto reference = train_adapter(reference_model, 0, data, *comm, o);
  ASSERT_FALSE(reference.interrupted);
  // Interrupted after 5 steps (last checkpoint at 4), then resumed in a fresh model.
  o.checkpoint_dir = dir / "resumed";
  o.interrupt_after = 5;
  {
    LoraModel model(weights, *backend, spec_all(4, 0.1f));
    auto first = train_adapter(model, 0, data, *comm, o);
    ASSERT_TRUE(first.interrupted);
    EXPECT_EQ(first.steps, 5);
  }
  EXPECT_EQ(latest_complete_checkpoint(o.checkpoint_dir), std::optional<std::int64_t>(4));
  // An incomplete newer folder (a crash mid-save) is ignored.
  fs::create_directories(checkpoint_folder(o.checkpoint_dir, 6));
  o.interrupt_after = 0;
  LoraModel model(weights, *backend, spec_all(4, 0.1f));
  auto resumed = train_adapter(model, 0, data, *comm, o);
  EXPECT_EQ(resumed.resumed_from, 4);
  ASSERT_EQ(resumed.steps, reference.steps);
  ASSERT_EQ(resumed.train_loss.size(), reference.train_loss.size() - 4);
  for (std::size_t i = 0; i < resumed.train_loss.size(); ++i) {
    EXPECT_EQ(resumed.train_loss[i].first, reference.train_loss[i + 4].first);
    EXPECT_EQ(resumed.train_loss[i].second, reference.train_loss[i + 4].second) << "step " << resumed.train_loss[i].first;
  }
  EXPECT_EQ(model.adapter(0).to_host(0), reference_model.adapter(0).to_host(0));
  // Only the last `keep` complete checkpoints remain.
  int complete = 0;
  for (const auto& e : fs::directory_iterator(o.checkpoint_dir)) complete += fs::exists(e.path() / "DONE") ? 1 : 0;
  EXPECT_EQ(complete, 2);
}

// When the prompt says nothing about the answer, the adapter must learn the
// answers' marginal distribution (what a persona's agent falls back to).
// Checked on the product's random base (the tiny preset). With lm_head at
// 1/sqrt(hidden) the frozen final norm capped the logits and training gave
// (0.003, 0.019, 0.15, 0.63, 0.20) here: the rare ratings were sacrificed, and
// on ML-100K every agent over-predicted by 0.2-0.4 stars.
TEST(Trainer, LearnsTheMarginalWhenThePromptIsUninformative) {
  const auto config = preset_config(ModelPreset::tiny, 1000);
  const auto weights = random_weights(config, 21);
  auto backend = make_backend(BackendKind::cpu);
  LoraSpec spec = spec_all(16, 0.0f);
  spec.alpha = 32;
  LoraModel model(weights, *backend, spec);
  const std::array<double, 5> marginal = {0.05, 0.10, 0.25, 0.35, 0.25};
  const std::array<std::int32_t, 5> digits = {944, 961, 948, 949, 952};
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> uniform(0, 1);
  AdapterData d;
  d.name = "marginal";
  for (int i = 0; i < 600; ++i) {
    Sample s;
    for (int t = 0; t < 40; ++t) s.ids.push_back(20 + static_cast<int>(rng() % 900));
    for (std::int32_t tail : {7, 18, 6, 18}) s.ids.push_back(tail);  // "<|end|>\n<|assistant|>\n"
    s.answer_begin = static_cast<int>(s.ids.size());
    double u = uniform(rng), acc = 0;
    int r = 4;
    for (int k = 0; k < 5; ++k)
      if (u < (acc += marginal[static_cast<std::size_t>(k)])) {
        r = k;
        break;
      }
    s.ids.push_back(digits[static_cast<std::size_t>(r)]);
    s.ids.push_back(7);
    s.ids.push_back(3);
    s.user_id = i;
    (i % 6 == 5 ? d.val : d.train).push_back(std::move(s));
  }
  auto comm = make_local_comm();
  auto o = options(6, 16, 8, 2e-3);
  o.pad_id = 3;
  train_adapter(model, 0, d, *comm, o);
  std::vector<std::vector<std::int32_t>> prompts;
  for (const auto& s : d.val) prompts.emplace_back(s.ids.begin(), s.ids.begin() + s.answer_begin);
  auto batch = TokenBatch::from_sequences(prompts, {}, 3);
  std::vector<ScorePosition> at;
  for (std::size_t p = 0; p < prompts.size(); ++p) at.push_back({static_cast<int>(p), static_cast<int>(prompts[p].size()) - 1});
  const auto logits = model.score(batch, at, digits);
  std::array<double, 5> mean{};
  for (std::size_t p = 0; p < prompts.size(); ++p) {
    double z = 0, mx = -1e30;
    for (int k = 0; k < 5; ++k) mx = std::max<double>(mx, logits[p * 5 + k]);
    for (int k = 0; k < 5; ++k) z += std::exp(logits[p * 5 + k] - mx);
    for (int k = 0; k < 5; ++k) mean[static_cast<std::size_t>(k)] += std::exp(logits[p * 5 + k] - mx) / z / prompts.size();
  }
  for (int k = 0; k < 5; ++k)
    EXPECT_NEAR(mean[static_cast<std::size_t>(k)], marginal[static_cast<std::size_t>(k)], 0.04)
        << "rating " << k + 1 << ": " << mean[0] << " " << mean[1] << " " << mean[2] << " " << mean[3] << " " << mean[4];
}

// train.init_from: a warm-started adapter begins where the saved one ended
// (the same validation loss before any update), and a wrong base is refused.
TEST(Trainer, WarmStartBeginsFromTheSavedAdapter) {
  auto weights = personas::testing::tiny_phi3();
  auto backend = make_backend(BackendKind::cpu);
  auto comm = make_local_comm();
  auto data = mapping_data(30, 3, 0, true);
  personas::testing::TempDir dir;
  const auto saved = dir / "first.h5";
  const std::string fingerprint = base_fingerprint(weights);
  double trained_val = 0;
  {
    LoraModel model(weights, *backend, spec_all(4, 0.0f));
    auto r = train_adapter(model, 0, data, *comm, options(8, 8, 8, 1e-2));
    trained_val = r.val_loss.back().second;
    EXPECT_LT(trained_val, r.initial_val_loss - 0.3);
    write_adapter_h5(saved, adapter_from_arena(model.adapter(0), weights.config.num_hidden_layers, "first", fingerprint));
  }
  LoraModel model(weights, *backend, spec_all(4, 0.0f));
  auto o = options(1, 8, 8, 1e-3);
  o.train.init_from = saved.string();
  o.base_fingerprint = fingerprint;
  auto warm = train_adapter(model, 0, data, *comm, o);
  EXPECT_NEAR(warm.initial_val_loss, trained_val, 1e-5);
  auto cold = train_adapter(model, 0, data, *comm, options(1, 8, 8, 1e-3));
  EXPECT_GT(cold.initial_val_loss, trained_val + 0.3);

  o.base_fingerprint = "another-base";
  EXPECT_THROW(train_adapter(model, 0, data, *comm, o), Error);
  o.base_fingerprint = fingerprint;
  o.train.init_from = (dir / "missing.h5").string();
  EXPECT_THROW(train_adapter(model, 0, data, *comm, o), Error);
}

// The keep_best cases: the validation answers contradict the training ones
// (shifted), so training first lowers the validation loss (it learns which
// tokens answer) and then raises it (it learns the training mapping).
struct KeepBestCase {
  ModelWeights weights = personas::testing::tiny_phi3();
  std::unique_ptr<Backend> backend = make_backend(BackendKind::cpu);
  std::unique_ptr<Comm> comm = make_local_comm();
  AdapterData data = mapping_data(60, 8, 0, true);
  personas::testing::TempDir dir;
  TrainerOptions options_keeping_best() const {
    auto o = options(6, 8, 4, 1e-2);
    o.train.val_every = 3;
    o.train.keep_best = true;
    o.train.checkpoint_every = 4;
    return o;
  }
  KeepBestCase() { data.val = mapping_data(60, 9, 2, true).val; }

  // Interrupted two steps before the end (after a checkpoint), then resumed:
  // the same kept step and the same adapter as the uninterrupted `reference`.
  // With train.keep_best_z the checkpoint carries the kept pass's per-sample
  // losses (this group size only); a resume from one without them (an older
  // checkpoint) recomputes them and ends the same too.
  void expect_resumed_run_ends_like(TrainerOptions o, const AdapterResult& reference, LoraModel& reference_model) {
    for (const bool strip_saved_losses : {false, true}) {
      o.checkpoint_dir = dir / (strip_saved_losses ? "resumed-old" : "resumed");
      o.interrupt_after = reference.steps - 2;
      {
        LoraModel first(weights, *backend, spec_all(8, 0.0f));
        ASSERT_TRUE(train_adapter(first, 0, data, *comm, o).interrupted);
      }
      const auto latest = latest_complete_checkpoint(o.checkpoint_dir);
      ASSERT_TRUE(latest.has_value());
      const auto saved = load_rank_best_losses(o.checkpoint_dir, *latest, 0, 1);
      const bool kept_z = o.train.keep_best && o.train.keep_best_z > 0 && reference.kept_step >= 0;
      EXPECT_EQ(saved.has_value(), kept_z);
      if (saved) {
        EXPECT_FALSE(saved->empty());
        EXPECT_FALSE(load_rank_best_losses(o.checkpoint_dir, *latest, 0, 2).has_value()) << "another group size";
      }
      if (strip_saved_losses) {
        if (!saved) continue;
        const fs::path pos = checkpoint_folder(o.checkpoint_dir, *latest) / rank_file_name("position", 0, "json");
        auto j = nlohmann::json::parse(read_file(pos));
        j.erase("best_sample_losses");
        write_file_atomic(pos, j.dump());
        ASSERT_FALSE(load_rank_best_losses(o.checkpoint_dir, *latest, 0, 1).has_value());
      }
      o.interrupt_after = 0;
      LoraModel resumed(weights, *backend, spec_all(8, 0.0f));
      const auto q = train_adapter(resumed, 0, data, *comm, o);
      EXPECT_GE(q.resumed_from, 0);
      EXPECT_EQ(q.kept_step, reference.kept_step);
      EXPECT_EQ(resumed.adapter(0).to_host(0), reference_model.adapter(0).to_host(0));
    }
  }
};

// train.keep_best: the adapter ends as it was at its lowest validation loss;
// in this case the last step is not the best. A resumed run keeps the same
// step as an uninterrupted one.
TEST(Trainer, KeepBestEndsAtTheLowestValidationLoss) {
  KeepBestCase c;
  auto& [weights, backend, comm, data, dir] = c;
  auto o = c.options_keeping_best();
  o.checkpoint_dir = dir / "reference";
  LoraModel model(weights, *backend, spec_all(8, 0.0f));
  const auto r = train_adapter(model, 0, data, *comm, o);
  ASSERT_GE(r.val_loss.size(), 3u);
  auto best = std::min_element(r.val_loss.begin(), r.val_loss.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  ASSERT_LT(best->second, r.val_loss.back().second) << "the case must end worse than its best";
  EXPECT_EQ(r.kept_step, best->first);
  EXPECT_EQ(r.kept_val_loss, best->second);
  EXPECT_NEAR(validation_loss(model, 0, data.val, *comm, 4, 0), best->second, 1e-6);

  // Without keep_best the adapter is the last step's.
  auto last = o;
  last.train.keep_best = false;
  last.checkpoint_dir = dir / "last";
  LoraModel plain(weights, *backend, spec_all(8, 0.0f));
  const auto p = train_adapter(plain, 0, data, *comm, last);
  EXPECT_EQ(p.kept_step, -1);
  EXPECT_NEAR(validation_loss(plain, 0, data.val, *comm, 4, 0), p.val_loss.back().second, 1e-6);

  // Interrupted after the best step's checkpoint, then resumed: the same adapter.
  c.expect_resumed_run_ends_like(o, r, model);
}

// train.keep_best_z: a lower pass replaces the kept one only when it is lower
// per sample by z paired standard errors. An impossible z keeps the start; z
// = 2 still takes the large early drop of the case above; a resumed run
// (whose kept pass's per-sample losses are recomputed) ends the same.
TEST(Trainer, KeepBestZTakesOnlyDropsBeyondTheNoise) {
  KeepBestCase c;
  auto& [weights, backend, comm, data, dir] = c;
  const auto o = c.options_keeping_best();

  auto never = o;
  never.train.keep_best_z = 1e9;
  never.checkpoint_dir = dir / "never";
  LoraModel start(weights, *backend, spec_all(8, 0.0f));
  const auto n = train_adapter(start, 0, data, *comm, never);
  EXPECT_EQ(n.kept_step, 0);
  EXPECT_GE(n.lower_not_kept, 1);
  EXPECT_NEAR(validation_loss(start, 0, data.val, *comm, 4, 0), n.initial_val_loss, 1e-6);

  auto z2 = o;
  z2.train.keep_best_z = 2;
  z2.checkpoint_dir = dir / "z2";
  LoraModel model(weights, *backend, spec_all(8, 0.0f));
  const auto r = train_adapter(model, 0, data, *comm, z2);
  EXPECT_GT(r.kept_step, 0);
  EXPECT_LT(r.kept_val_loss, r.initial_val_loss - 0.1);
  EXPECT_NEAR(validation_loss(model, 0, data.val, *comm, 4, 0), r.kept_val_loss, 1e-6);

  c.expect_resumed_run_ends_like(z2, r, model);
}

TEST(Trainer, PairedLossDifferenceIsTheMeanAndItsStandardError) {
  auto comm = make_local_comm();
  const auto d = paired_loss_difference({1.0, 2.0, 3.0, 6.0}, {2.0, 2.0, 2.0, 2.0}, *comm);
  // differences -1, 0, 1, 4: mean 1, sample variance (4 + 1 + 0 + 9) / 3
  EXPECT_EQ(d.n, 4);
  EXPECT_DOUBLE_EQ(d.mean_diff, 1.0);
  EXPECT_NEAR(d.std_error, std::sqrt(14.0 / 3.0 / 4.0), 1e-12);
  EXPECT_EQ(paired_loss_difference({}, {}, *comm).n, 0);
}
