// Baselines and metrics give bit-identical results for 1, 2 and 3 ranks: each
// rank fits on its block of users with the world communicator, and the result
// is compared with a one-process fit on the whole data set.
#include <gtest/gtest.h>

#include "eval/baselines.h"
#include "eval/metrics.h"
#include "eval/paired_difference.h"
#include "eval/per_user_file.h"
#include "core/fs.h"
#include "support/test_support.h"

#include <algorithm>
#include "mpi/mpi_test_env.h"
#include "unit/eval/eval_test_data.h"

namespace personas {
namespace {

std::vector<std::int32_t> personas_of(const Dataset& d) {
  std::vector<std::int32_t> p;
  for (const auto& u : d.users) p.push_back(u.true_persona);
  return p;
}

TEST(EvalMpi, BaselinesAndMetricsAreIdenticalForAnyRankCount) {
  auto& world = testing::world();
  // 37 users: blocks of unequal size for 2 and 3 ranks.
  const auto full = testing::make_model_ratings(37, 50, 24, 99);
  const auto shard = testing::shard_of(full, world.rank(), world.size());
  auto local = make_local_comm();
  EvalConfig c;
  c.mf_factors = 6;
  c.mf_epochs = 10;
  c.als_factors = 3;
  c.als_iterations = 5;
  MetricsOptions options;
  options.bootstrap_samples = 100;
  options.seed = 5;
  for (const auto& name : known_baselines()) {
    auto sharded = make_baseline(name, c, 77);
    sharded->fit(shard, world);
    auto whole = make_baseline(name, c, 77);
    whole->fit(full, *local);
    for (std::size_t k = 0; k < shard.users.size(); ++k)
      for (const auto& x : shard.test_of(shard.users[k]))
        ASSERT_EQ(sharded->predict(k, x.item), whole->predict(std::size_t(shard.first_user) + k, x.item))
            << name << " user " << shard.users[k].id << " item " << x.item;
    EXPECT_EQ(training_rmse(*sharded, shard, world), training_rmse(*whole, full, *local)) << name;

    const auto records = predict_test_period(*sharded, shard, personas_of(shard));
    const auto m = compute_metrics(name, "baseline", records, world, options);
    const auto all_records = predict_test_period(*whole, full, personas_of(full));
    const auto expected = metrics_from_users(name, "baseline", summarise_users(all_records), options);
    EXPECT_EQ(metrics_to_json(m).dump(), metrics_to_json(expected).dump()) << name;
    // Each rank keeps its own users only.
    EXPECT_EQ(m.users.size(), shard.users.size());
    EXPECT_EQ(world.allreduce_sum(std::int64_t(m.users.size())), 37);
    EXPECT_EQ(m.per_persona.size(), 3u);
  }
}

// The paired comparison with the bias baseline is bit-identical for any
// number of ranks (exact sums, the same Poisson weights on every rank).
TEST(EvalMpi, PairedDifferenceIsTheSameForAnyRankCount) {
  auto& world = testing::world();
  const auto full = testing::make_model_ratings(37, 50, 24, 99);
  const auto shard = testing::shard_of(full, world.rank(), world.size());
  auto local = make_local_comm();
  EvalConfig c;
  MetricsOptions options;
  options.bootstrap_samples = 100;
  options.seed = 8;
  auto users_of = [&](const std::string& name, const Dataset& d, Comm& comm) {
    auto model = make_baseline(name, c, 3);
    model->fit(d, comm);
    return compute_metrics(name, "baseline", predict_test_period(*model, d, personas_of(d)), comm, options).users;
  };
  const auto sharded = paired_difference(paired_users(users_of("user_mean", shard, world)),
                                         paired_users(users_of("bias", shard, world)), "bias", world, options);
  const auto whole = paired_difference(paired_users(users_of("user_mean", full, *local)),
                                       paired_users(users_of("bias", full, *local)), "bias", *local, options);
  ASSERT_TRUE(sharded.has_value());
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(paired_difference_to_json(*sharded).dump(), paired_difference_to_json(*whole).dump());
  EXPECT_GT(sharded->rmse_diff, 0);  // the user mean is worse than user + item biases
}

// RUN/eval/per-user.jsonl stitched from every rank's part is the file one
// process writes: predictor after predictor, users in selection order.
TEST(EvalMpi, PerUserFileIsTheSameForAnyRankCount) {
  auto& world = testing::world();
  const auto full = testing::make_model_ratings(37, 50, 24, 99);
  const auto shard = testing::shard_of(full, world.rank(), world.size());
  std::unique_ptr<testing::TempDir> owner;
  std::string root;
  if (world.is_root()) {
    owner = std::make_unique<testing::TempDir>("personas-eval-mpi");
    root = owner->path().string();
  }
  world.broadcast_string(root, 0);
  auto local = make_local_comm();
  EvalConfig c;
  MetricsOptions options;
  options.bootstrap_samples = 0;
  const RunDir sharded_run(fs::path(root) / "sharded"), whole_run(fs::path(root) / "whole");
  {
    PerUserFile sharded(sharded_run, world);
    std::unique_ptr<PerUserFile> whole;
    if (world.is_root()) whole = std::make_unique<PerUserFile>(whole_run, *local);
    for (const std::string name : {"global_mean", "user_mean", "bias"}) {
      auto model = make_baseline(name, c, 3);
      model->fit(shard, world);
      sharded.add(compute_metrics(name, "baseline", predict_test_period(*model, shard, personas_of(shard)), world,
                                  options));
      if (whole) {
        auto one = make_baseline(name, c, 3);
        one->fit(full, *local);
        whole->add(metrics_from_users(name, "baseline", summarise_users(predict_test_period(*one, full, personas_of(full))),
                                      options));
      }
    }
    sharded.finish();
    if (whole) whole->finish();
  }
  world.barrier();  // every rank has removed its part
  if (world.is_root()) {
    const auto got = read_file(sharded_run.stage_dir("eval") / "per-user.jsonl");
    EXPECT_EQ(got, read_file(whole_run.stage_dir("eval") / "per-user.jsonl"));
    EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 3 * 37);
    // The parts are gone.
    for (const auto& e : fs::directory_iterator(sharded_run.stage_dir("eval")))
      EXPECT_EQ(e.path().filename().string(), "per-user.jsonl");
  }
  world.barrier();
}

}  // namespace
}  // namespace personas
