// Distill and what a cluster does to a job: a signal stops it between users
// (also while answers are awaited) with the users written kept, and the rerun
// finishes with the same records as an uninterrupted run; a stage whose users
// all failed is not DONE and the same command, rerun, redoes them; another
// port for the same endpoint keeps the stage done.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>

#include "comm/comm.h"
#include "core/errors.h"
#include "core/stop_request.h"
#include "distill/distill_stage.h"
#include "distill/memories.h"
#include "io/jsonl.h"
#include "scripted_llm.h"
#include "support/test_support.h"
#include "tiny_dataset.h"

namespace personas {
namespace {

using testing::FakeOpenAiServer;
using testing::FakeRequest;
using testing::FakeResponse;

DistillConfig endpoint(const FakeOpenAiServer& server) {
  DistillConfig c;
  c.provider = Provider::openai;
  c.base_url = server.base_url();
  c.model = "fake-model";
  c.prompts = (testing::source_dir() / "configs/prompts/distill-v1").string();
  c.batch_size = 4;
  c.timeout_s = 10;
  c.connect_timeout_s = 1;
  c.backoff_initial_s = 0.01;
  c.backoff_max_s = 0.05;
  c.max_attempts = 2;
  c.in_flight = 2;
  c.users_per_chunk = 1;
  return c;
}

FakeResponse scripted(const FakeRequest& req) {
  return testing::answer(testing::scripted_answer(testing::read_prompt(req.body)));
}

std::string file_text(const fs::path& path) { return fs::exists(path) ? read_file(path) : std::string("(missing)"); }

class DistillStop : public ::testing::Test {
 protected:
  void SetUp() override {
    install_stop_handlers();
    reset_stop_request();
  }
  void TearDown() override {
    set_stop_file({});
    reset_stop_request();
  }
};

// SIGTERM arrives (here from the fake endpoint's thread, as it would from
// Slurm) after a few answers: distill stops after the user being written,
// saves its part file, writes no DONE and throws StopError (exit 7). The same
// call again finishes, with no call for a user already written, and the
// memories are byte for byte those of an uninterrupted run.
TEST_F(DistillStop, SignalStopsBetweenUsersAndTheRerunMatchesAnUninterruptedRun) {
  auto data = testing::tiny_dataset(8);
  std::atomic<int> answered{0};
  std::atomic<int> signal_after{-1};
  FakeOpenAiServer server([&](const FakeRequest& req) {
    if (++answered == signal_after.load()) std::raise(SIGTERM);
    return scripted(req);
  });
  auto comm = make_local_comm();
  const auto config = endpoint(server);

  testing::TempDir reference_dir;
  RunDir reference(reference_dir.path());
  run_distill(reference, data, config, {}, *comm);
  const int all_calls = answered.load();

  testing::TempDir tmp;
  RunDir run(tmp.path());
  set_stop_file(tmp / kStopFileName);
  answered = 0;
  signal_after = 9;  // a few users in
  EXPECT_THROW(run_distill(run, data, config, {}, *comm), StopError);
  const int first_calls = answered.load();
  EXPECT_LT(first_calls, all_calls);
  EXPECT_TRUE(fs::exists(tmp / kStopFileName));  // what tells the other ranks
  EXPECT_FALSE(run.done_marker("distill").has_value());
  EXPECT_FALSE(fs::exists(run.rank_file("distill", "memories", 0, "jsonl")));
  std::int64_t saved = 0;
  for (const auto& e : fs::directory_iterator(run.stage_dir("distill") / "parts"))
    read_jsonl(e.path(), [&](const nlohmann::json&, std::size_t) { ++saved; });
  EXPECT_GT(saved, 0);
  EXPECT_LT(saved, static_cast<std::int64_t>(data.users.size()));

  reset_stop_request();
  fs::remove(tmp / kStopFileName);
  signal_after = -1;
  auto summary = run_distill(run, data, config, {}, *comm);
  EXPECT_EQ(summary.users_resumed, saved);
  EXPECT_EQ(summary.users_ok, static_cast<std::int64_t>(data.users.size()));
  EXPECT_TRUE(run.done_marker("distill").has_value());
  // Calls: the first run's, minus those of chats dropped in flight, plus the rest.
  EXPECT_LE(answered.load() - first_calls, all_calls);
  EXPECT_EQ(file_text(run.rank_file("distill", "memories", 0, "jsonl")),
            file_text(reference.rank_file("distill", "memories", 0, "jsonl")));
}

// An endpoint that does not answer: the stop comes from the client's loop
// (at least once a second), not from a finished user.
TEST_F(DistillStop, SignalStopsWhileAnswersAreAwaited) {
  auto data = testing::tiny_dataset(4);
  std::atomic<bool> signalled{false};
  std::chrono::steady_clock::time_point signal_time;
  FakeOpenAiServer server([&](const FakeRequest& req) {
    if (!signalled.exchange(true)) {
      signal_time = std::chrono::steady_clock::now();
      std::raise(SIGUSR1);
    }
    FakeResponse r = scripted(req);
    r.delay_s = 8;  // longer than the bound checked below
    return r;
  });
  auto comm = make_local_comm();
  testing::TempDir tmp;
  RunDir run(tmp.path());
  set_stop_file(tmp / kStopFileName);
  EXPECT_THROW(run_distill(run, data, endpoint(server), {}, *comm), StopError);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - signal_time).count();
  EXPECT_LT(seconds, 2.5) << "signal to stop";
  std::printf("distill (endpoint not answering): signal -> stop %.3f s\n", seconds);
  EXPECT_FALSE(run.done_marker("distill").has_value());
}

// Every user failed: no DONE (the command exits 6);
// once the endpoint is healed, the same call (no --retry-failed) redoes every user.
TEST_F(DistillStop, AllUsersFailedIsNotDoneAndTheRerunRedoesThem) {
  auto data = testing::tiny_dataset(5);
  std::atomic<bool> healed{false};
  FakeOpenAiServer server([&](const FakeRequest& req) {
    if (!healed) return FakeResponse{401, R"({"error": {"message": "invalid key"}})", {}, 0, FakeResponse::Fault::none};
    return scripted(req);
  });
  auto comm = make_local_comm();
  testing::TempDir tmp;
  RunDir run(tmp.path());
  const auto config = endpoint(server);
  auto failed = run_distill(run, data, config, {}, *comm);  // personas distill then exits 6
  EXPECT_EQ(failed.users_ok, 0);
  EXPECT_EQ(failed.users_failed, 5);
  EXPECT_FALSE(run.done_marker("distill").has_value());

  healed = true;
  const int before = server.requests();
  auto summary = run_distill(run, data, config, {}, *comm);
  EXPECT_FALSE(summary.skipped);
  EXPECT_EQ(summary.users_ok, 5);
  EXPECT_EQ(summary.users_failed, 0);
  EXPECT_EQ(summary.users_done_now, 5);
  EXPECT_GT(server.requests(), before);
  ASSERT_TRUE(run.done_marker("distill").has_value());
  EXPECT_EQ(load_memories(run, *comm).size(), 5u);
}

// The same endpoint behind another port (a restarted vLLM, another node):
// done already. Another model name is another output: redone.
TEST_F(DistillStop, AnotherPortKeepsTheStageDoneAnotherModelDoesNot) {
  auto data = testing::tiny_dataset(4);
  FakeOpenAiServer first(scripted), second(scripted);
  ASSERT_NE(first.port(), second.port());
  auto comm = make_local_comm();
  testing::TempDir tmp;
  RunDir run(tmp.path());
  run_distill(run, data, endpoint(first), {}, *comm);
  const auto memories = file_text(run.rank_file("distill", "memories", 0, "jsonl"));

  auto moved = run_distill(run, data, endpoint(second), {}, *comm);
  EXPECT_TRUE(moved.skipped);
  EXPECT_EQ(second.requests(), 0);
  EXPECT_EQ(file_text(run.rank_file("distill", "memories", 0, "jsonl")), memories);

  auto other_model = endpoint(second);
  other_model.model = "another-model";
  auto redone = run_distill(run, data, other_model, {}, *comm);
  EXPECT_FALSE(redone.skipped);
  EXPECT_EQ(redone.users_resumed, 0);
  EXPECT_GT(second.requests(), 0);
}

}  // namespace
}  // namespace personas
