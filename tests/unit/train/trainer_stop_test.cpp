// Training and a signal: the trainer stops after the step under way, saves a
// checkpoint of that very step even when train.checkpoint_every is not due,
// and the resumed run ends with exactly the parameters and losses of an
// uninterrupted one.
#include <gtest/gtest.h>

#include <csignal>
#include <random>

#include "backend/backend.h"
#include "comm/comm.h"
#include "core/stop_request.h"
#include "support/test_support.h"
#include "train/train_checkpoint.h"
#include "train/trainer.h"
#include "unit/train/tiny_model.h"

using namespace personas;

namespace {

AdapterData counting_data(int n) {
  std::mt19937_64 rng(11);
  AdapterData d;
  d.name = "stop";
  for (int i = 0; i < n; ++i) {
    Sample s;
    const int a = 10 + static_cast<int>(rng() % 8);
    s.ids = {3, a, 20 + static_cast<int>(rng() % 8)};
    s.answer_begin = 3;
    s.ids.push_back(30 + a % 5);
    s.ids.push_back(2);
    s.user_id = i;
    (i % 6 == 5 ? d.val : d.train).push_back(std::move(s));
  }
  return d;
}

LoraSpec spec() {
  LoraSpec s;
  s.targets = {LoraTarget::q, LoraTarget::v};
  s.rank = 4;
  s.alpha = 4;
  s.dropout = 0.1f;  // dropout masks must also continue exactly
  s.seed = 5;
  return s;
}

TrainerOptions options(const fs::path& checkpoints) {
  TrainerOptions o;
  o.train.epochs = 3;
  o.train.global_batch = 4;
  o.train.micro_batch = 2;
  o.train.lr = 5e-3;
  o.train.val_every = 3;
  o.train.checkpoint_every = 1000;  // never due: any checkpoint is the stop's
  o.seed = 7;
  o.checkpoint_dir = checkpoints;
  return o;
}

class TrainerStop : public ::testing::Test {
 protected:
  void SetUp() override {
    install_stop_handlers();
    reset_stop_request();
  }
  void TearDown() override { reset_stop_request(); }
};

TEST_F(TrainerStop, SignalSavesACheckpointOfThatStepAndTheResumeIsExact) {
  auto weights = personas::testing::tiny_phi3();
  auto backend = make_backend(BackendKind::cpu);
  auto comm = make_local_comm();
  auto data = counting_data(40);
  personas::testing::TempDir dir;

  LoraModel reference_model(weights, *backend, spec());
  auto reference = train_adapter(reference_model, 0, data, *comm, options(dir / "reference"));
  ASSERT_FALSE(reference.interrupted);
  ASSERT_GT(reference.steps, 6);
  EXPECT_FALSE(latest_complete_checkpoint(dir / "reference").has_value());

  // The signal is already there: the first step is the one under way.
  ASSERT_EQ(std::raise(SIGTERM), 0);
  {
    LoraModel model(weights, *backend, spec());
    auto stopped = train_adapter(model, 0, data, *comm, options(dir / "stopped"));
    EXPECT_TRUE(stopped.interrupted);
    EXPECT_TRUE(stopped.stopped);
    EXPECT_EQ(stopped.steps, 1);
  }
  EXPECT_EQ(latest_complete_checkpoint(dir / "stopped"), std::optional<std::int64_t>(1));

  reset_stop_request();
  LoraModel model(weights, *backend, spec());
  auto resumed = train_adapter(model, 0, data, *comm, options(dir / "stopped"));
  EXPECT_EQ(resumed.resumed_from, 1);
  ASSERT_EQ(resumed.steps, reference.steps);
  ASSERT_EQ(resumed.train_loss.size() + 1, reference.train_loss.size());
  for (std::size_t i = 0; i < resumed.train_loss.size(); ++i)
    EXPECT_EQ(resumed.train_loss[i], reference.train_loss[i + 1]) << "step " << resumed.train_loss[i].first;
  EXPECT_EQ(model.adapter(0).to_host(0), reference_model.adapter(0).to_host(0));
}

// A stop that comes with the last step: the adapter finishes (nothing is
// left to resume), the next one would stop.
TEST_F(TrainerStop, TheLastStepFinishesTheAdapter) {
  auto weights = personas::testing::tiny_phi3();
  auto backend = make_backend(BackendKind::cpu);
  auto comm = make_local_comm();
  auto data = counting_data(12);
  personas::testing::TempDir dir;
  auto o = options(dir / "one");
  o.train.epochs = 1;
  o.train.global_batch = 16;  // one step in all
  ASSERT_EQ(std::raise(SIGUSR1), 0);
  LoraModel model(weights, *backend, spec());
  auto r = train_adapter(model, 0, data, *comm, o);
  EXPECT_EQ(r.steps, 1);
  EXPECT_EQ(r.total_steps, 1);
  EXPECT_FALSE(r.interrupted);
}

}  // namespace
