// Distillation is independent of the number of ranks: the same users
// distilled with 1, 2 or 3 ranks (this binary runs under each) give
// byte-identical records to a one-process reference run, with the offline
// provider, with the scripted fake server and with the local engine on a
// tiny random checkpoint; load_memories returns each
// rank's block whatever the writer's rank count.
#include <gtest/gtest.h>

#include <memory>

#include "comm/sharding.h"
#include "core/fs.h"
#include "distill/distill_stage.h"
#include "distill/memories.h"
#include "io/jsonl.h"
#include "mpi/mpi_test_env.h"
#include "support/test_support.h"
#include "support/fake_openai_server.h"
#include "unit/distill/scripted_llm.h"
#include "unit/distill/tiny_dataset.h"
#include "unit/distill/tiny_local_model.h"

// The fake server is compiled into the unit test binary; this binary takes
// its one source file directly.

namespace personas {
namespace {

// All records of a finished run, in selection order, as JSON text lines.
std::string all_records(const RunDir& run) {
  auto marker = run.done_marker("distill");
  EXPECT_TRUE(marker.has_value());
  if (!marker) return {};
  std::string text;
  for (int w = 0; w < marker->value("n_ranks", 0); ++w) {
    auto path = run.rank_file("distill", "memories", w, "jsonl");
    text += read_file(path);
  }
  return text;
}

// A folder shared by every rank (created by rank 0, removed after a barrier).
struct SharedDir {
  std::unique_ptr<testing::TempDir> owner;
  fs::path path;
  explicit SharedDir(Comm& comm) {
    std::string p;
    if (comm.is_root()) {
      owner = std::make_unique<testing::TempDir>("personas-distill-mpi");
      p = owner->path().string();
    }
    comm.broadcast_string(p, 0);
    path = p;
  }
};

void check_same_as_one_process(const DistillConfig& config, const testing::FakeOpenAiServer* server,
                               int n_users = 11, bool local_model = false) {
  Comm& comm = testing::world();
  auto full = testing::tiny_dataset(n_users);
  auto shard = testing::shard_of(full, comm.rank(), comm.size());
  SharedDir dir(comm);
  DistillRunOptions options;
  if (local_model) {  // distill.provider = local: a tiny random checkpoint, written once
    options.local_checkpoint = (dir.path / "tiny.h5").string();
    options.local_max_seq = 192;
    options.backend = BackendKind::cpu;
    if (comm.is_root()) testing::write_tiny_local_checkpoint(options.local_checkpoint);
    comm.barrier();
  }
  RunDir run(dir.path / "run");
  auto summary = run_distill(run, shard, config, options, comm);
  EXPECT_EQ(summary.users_ok, n_users);
  EXPECT_EQ(summary.users_failed, 0);
  if (comm.is_root()) {
    auto local = make_local_comm();
    RunDir reference(dir.path / "reference");
    run_distill(reference, full, config, options, *local);
    auto got = all_records(run), want = all_records(reference);
    EXPECT_FALSE(want.empty());
    EXPECT_EQ(got, want) << "outputs differ between " << comm.size() << " ranks and 1";
  }
  // Each rank's block, whatever the writer count: here written by comm.size()
  // ranks and by 1 process (the reference), read by comm.size() ranks.
  auto [lo, hi] = block_range(n_users, comm.rank(), comm.size());
  auto mine = load_memories(run, comm);
  ASSERT_EQ(static_cast<std::int64_t>(mine.size()), hi - lo);
  for (std::int64_t i = lo; i < hi; ++i) EXPECT_EQ(mine[static_cast<std::size_t>(i - lo)].user_id, full.users[static_cast<std::size_t>(i)].id);
  comm.barrier();
  auto from_reference = load_memories(RunDir(dir.path / "reference"), comm);
  ASSERT_EQ(static_cast<std::int64_t>(from_reference.size()), hi - lo);
  for (std::size_t k = 0; k < mine.size(); ++k) EXPECT_EQ(from_reference[k].profile, mine[k].profile);
  comm.barrier();
  (void)server;
}

TEST(DistillRanks, OfflineOutputsDoNotDependOnRankCount) {
  DistillConfig config;  // offline
  config.users_per_chunk = 2;
  check_same_as_one_process(config, nullptr);
}

TEST(DistillRanks, FakeServerOutputsDoNotDependOnRankCount) {
  Comm& comm = testing::world();
  // Rank 0 serves; every rank (same host) talks to it.
  std::unique_ptr<testing::FakeOpenAiServer> server;
  std::string url;
  if (comm.is_root()) {
    server = std::make_unique<testing::FakeOpenAiServer>([](const testing::FakeRequest& req) {
      return testing::answer(testing::scripted_answer(testing::read_prompt(req.body)));
    });
    url = server->base_url();
  }
  comm.broadcast_string(url, 0);
  DistillConfig config;
  config.provider = Provider::openai;
  config.base_url = url;
  config.model = "fake";
  config.prompts = (testing::source_dir() / "configs/prompts/distill-v1").string();
  config.batch_size = 4;
  config.backoff_initial_s = 0.01;
  config.users_per_chunk = 3;
  check_same_as_one_process(config, server.get());
  comm.barrier();
}

TEST(DistillRanks, LocalEngineOutputsDoNotDependOnRankCount) {
  DistillConfig config;
  config.provider = Provider::local;
  config.prompts = (testing::source_dir() / "configs/prompts/distill-v1").string();
  config.batch_size = 6;
  config.temperature = 0.7;  // sampled, not greedy: the per-chat seeds must not depend on the rank
  config.local_note_tokens = 8;
  config.local_profile_tokens = 16;
  config.users_per_chunk = 2;
  check_same_as_one_process(config, nullptr, /*n_users=*/5, /*local_model=*/true);
}

}  // namespace
}  // namespace personas
