// Persona parallelism end to end at the trainer level: K = 2 personas with
// different rating mappings, samples built on the rank that owns each user,
// sent to the ranks of the persona's group, trained there (1 rank: both in
// turn; 2 ranks: one each; 3 ranks: one persona data-parallel over 2 ranks).
// Each persona's validation loss must fall, and a data-parallel group must
// give the same losses as one process (the gradient is the global-batch mean).
#include <gtest/gtest.h>

#include <random>

#include "backend/backend.h"
#include "mpi/mpi_test_env.h"
#include "train/persona_groups.h"
#include "train/sample_exchange.h"
#include "train/trainer.h"
#include "unit/train/tiny_model.h"

namespace personas {
namespace {

// User u belongs to persona u % 2; persona p answers 30 + (a + 2p) % 5 after "3 a b ...".
Sample make_sample(std::int64_t user, int position, std::mt19937_64& rng) {
  Sample s;
  s.user_id = user;
  s.position = position;
  const int a = 10 + static_cast<int>(rng() % 8);
  s.ids = {3, a, 10 + static_cast<int>(rng() % 8)};
  s.answer_begin = 3;
  s.ids.push_back(30 + (a + 2 * static_cast<int>(user % 2)) % 5);
  s.ids.push_back(2);
  s.validation = position >= 8;
  return s;
}

TEST(TrainPersonas, TwoPersonasOverRanksLowerTheirValidationLoss) {
  Comm& world = testing::world();
  constexpr int kUsers = 12, kPerUser = 10;
  // Rank r builds the samples of the users it owns (round robin here).
  std::vector<Sample> local;
  std::vector<int> adapter_of;
  for (std::int64_t u = 0; u < kUsers; ++u) {
    if (u % world.size() != world.rank()) continue;
    std::mt19937_64 rng(static_cast<std::uint64_t>(1000 + u));
    for (int t = 0; t < kPerUser; ++t) {
      local.push_back(make_sample(u, t, rng));
      adapter_of.push_back(static_cast<int>(u % 2));
    }
  }
  // Persona 1 gets more samples in this count so a 3-rank plan gives it the 2-rank group.
  const GroupPlan plan = plan_groups({48, 50}, world.size());
  auto mine = exchange_samples(local, adapter_of, plan, world);
  const auto& group_info = plan.group_for_rank(world.rank());
  ASSERT_EQ(mine.size(), group_info.adapters.size());
  auto group = world.split(plan.group_of_rank[static_cast<std::size_t>(world.rank())], world.rank());
  ASSERT_EQ(group->size(), group_info.n_ranks);

  auto weights = testing::tiny_phi3(11);
  auto backend = make_backend(BackendKind::cpu);
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj};
  spec.rank = 8;
  spec.alpha = 8;
  LoraModel model(weights, *backend, spec, 1);
  for (std::size_t i = 0; i < mine.size(); ++i) {
    AdapterData d;
    d.adapter = group_info.adapters[i];
    d.name = "persona-" + std::to_string(d.adapter);
    for (auto& s : mine[i]) (s.validation ? d.val : d.train).push_back(s);
    ASSERT_EQ(d.train.size(), 48u) << d.name;  // 6 users x 8 training samples, all of them here
    ASSERT_EQ(d.val.size(), 12u);
    TrainerOptions o;
    o.train.epochs = 8;
    o.train.global_batch = 8;
    o.train.micro_batch = 2;
    o.train.lr = 1e-2;
    o.train.val_every = 0;
    o.train.checkpoint_every = 0;
    o.seed = 17 + static_cast<std::uint64_t>(d.adapter);
    auto r = train_adapter(model, 0, d, *group, o);
    ASSERT_GE(r.val_loss.size(), 2u);
    EXPECT_LT(r.val_loss.back().second, 0.7 * r.initial_val_loss)
        << d.name << ": validation loss " << r.initial_val_loss << " -> " << r.val_loss.back().second;
    if (group->size() > 1) {
      // The same adapter trained by this process alone.
      auto alone = make_local_comm();
      LoraModel solo(weights, *backend, spec, 1);
      auto s = train_adapter(solo, 0, d, *alone, o);
      ASSERT_EQ(s.train_loss.size(), r.train_loss.size());
      for (std::size_t k = 0; k < s.train_loss.size(); ++k)
        EXPECT_NEAR(s.train_loss[k].second, r.train_loss[k].second, 2e-4) << "step " << k + 1;
    }
  }
}

}  // namespace
}  // namespace personas
