// The distill stage on in-memory data: the offline writer's content, the LLM
// conversation against the scripted fake server (faults, repair, shorten,
// failure), resume after a kill, --retry-failed, and load_memories (provider
// local: local_chat_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>
#include <set>

#include "comm/comm.h"
#include "core/errors.h"
#include "core/strings.h"
#include "distill/distill_stage.h"
#include "distill/memory_records.h"
#include "distill/offline_writer.h"
#include "io/jsonl.h"
#include "scripted_llm.h"
#include "support/test_support.h"
#include "tiny_dataset.h"

namespace personas {
namespace {

using testing::FakeOpenAiServer;
using testing::FakeRequest;
using testing::FakeResponse;

DistillConfig fake_config(const FakeOpenAiServer& server) {
  DistillConfig c;
  c.provider = Provider::openai;
  c.base_url = server.base_url();
  c.model = "fake-model";
  c.prompts = (testing::source_dir() / "configs/prompts/distill-v1").string();
  c.batch_size = 4;
  c.timeout_s = 0.5;
  c.connect_timeout_s = 0.5;
  c.backoff_initial_s = 0.01;
  c.backoff_max_s = 0.05;
  c.max_attempts = 4;
  c.in_flight = 4;
  c.users_per_chunk = 2;
  return c;
}

int expected_calls(const Dataset& d, const User& u, int batch) { return (u.n_train + batch - 1) / batch + 1; }

std::vector<MemoryRecord> read_records(const fs::path& path) {
  std::vector<MemoryRecord> out;
  if (!fs::exists(path)) return out;
  read_jsonl(path, [&](const nlohmann::json& j, std::size_t line) { out.push_back(record_from_json(j, std::to_string(line))); });
  return out;
}

TEST(DistillOffline, ProfilesAndNotesCarryTheStatistics) {
  auto data = testing::tiny_dataset();
  testing::TempDir tmp;
  RunDir run(tmp.path());
  auto comm = make_local_comm();
  DistillConfig config;  // provider auto + no base_url = offline
  auto summary = run_distill(run, data, config, {}, *comm);
  EXPECT_EQ(summary.users_ok, data.n_users_total);
  EXPECT_EQ(summary.users_failed, 0);
  EXPECT_EQ(summary.calls, 0);
  auto memories = load_memories(run, *comm);
  ASSERT_EQ(memories.size(), data.users.size());
  for (std::size_t i = 0; i < memories.size(); ++i) {
    const auto& m = memories[i];
    const auto& u = data.users[i];
    EXPECT_EQ(m.user_id, u.id);
    EXPECT_EQ(m.provider, "offline");
    EXPECT_EQ(m.prompt_version, kOfflineWriterVersion);
    ASSERT_EQ(m.notes.size(), static_cast<std::size_t>(u.n_train));
    auto stats = compute_user_stats(data, u);
    EXPECT_NE(m.profile.find(fmt::format("I have rated {} movies", u.n_train)), std::string::npos) << m.profile;
    EXPECT_NE(m.profile.find(fmt::format("{:.1f} stars", stats.mean)), std::string::npos) << m.profile;
    for (int g : stats.liked_genres) EXPECT_NE(m.profile.find(data.genre_names[static_cast<std::size_t>(g)]), std::string::npos);
    EXPECT_NE(m.profile.find("As a viewer,"), std::string::npos);
    EXPECT_FALSE(m.activity.empty());
    EXPECT_FALSE(m.conformity.empty());
    EXPECT_FALSE(m.diversity.empty());
    auto train = data.train_of(u);
    for (std::size_t k = 0; k < m.notes.size(); ++k) {
      const auto& item = data.items[static_cast<std::size_t>(train[k].item)];
      EXPECT_EQ(m.notes[k].item, train[k].item);  // time order
      EXPECT_EQ(m.notes[k].rating, train[k].rating);
      EXPECT_TRUE(starts_with(m.notes[k].text, fmt::format("I rated {} ({}) as {} because ", item.title, item.year,
                                                           format_rating(train[k].rating))))
          << m.notes[k].text;
    }
  }
  // A second run with the same configuration is a no-op.
  auto again = run_distill(run, data, config, {}, *comm);
  EXPECT_TRUE(again.skipped);
}

TEST(DistillOffline, ReasonFollowsTheUsersTaste) {
  auto data = testing::tiny_dataset();
  const auto& u = data.users[0];
  auto s = compute_user_stats(data, u);
  ASSERT_FALSE(s.liked_genres.empty());
  ASSERT_FALSE(s.disliked_genres.empty());
  Item liked;
  liked.title = "L";
  liked.genres = 1u << s.liked_genres[0];
  liked.train_mean = 2.0;
  liked.train_count = 10;
  auto good = offline_reason(data, liked, 5, s);
  EXPECT_NE(good.find("I love " + data.genre_names[static_cast<std::size_t>(s.liked_genres[0])]), std::string::npos) << good;
  EXPECT_NE(good.find("much more than most viewers (average 2.0)"), std::string::npos) << good;
  Item disliked = liked;
  disliked.genres = 1u << s.disliked_genres[0];
  disliked.train_mean = 4.5;
  auto bad = offline_reason(data, disliked, 1, s);
  EXPECT_NE(bad.find(data.genre_names[static_cast<std::size_t>(s.disliked_genres[0])] + " movies rarely work for me"),
            std::string::npos) << bad;
  EXPECT_NE(bad.find("harder on it than most viewers"), std::string::npos) << bad;
}

TEST(DistillLlm, TransportFaultsAreRetriedAndOutputsAreAsScripted) {
  auto data = testing::tiny_dataset(6);
  // The first time a conversation step is seen it fails in one of four ways.
  std::mutex mutex;
  std::map<std::string, int> seen;
  FakeOpenAiServer server([&](const FakeRequest& req) {
    int n;
    {
      std::lock_guard lock(mutex);
      n = seen[req.body]++;
    }
    auto p = testing::read_prompt(req.body);
    if (n == 0) {
      switch (fnv1a64(req.body) % 4) {
        case 0: return FakeResponse{429, "{}", {{"Retry-After", "0"}}, 0, FakeResponse::Fault::none};
        case 1: return FakeResponse{500, "boom", {}, 0, FakeResponse::Fault::none};
        case 2: return FakeResponse{200, testing::chat_completion_body("late"), {}, 1.0, FakeResponse::Fault::none};
        default: return FakeResponse{200, "", {}, 0, FakeResponse::Fault::drop_connection};
      }
    }
    return testing::answer(testing::scripted_answer(p));
  });
  testing::TempDir tmp;
  RunDir run(tmp.path());
  auto comm = make_local_comm();
  auto config = fake_config(server);
  auto summary = run_distill(run, data, config, {}, *comm);
  int calls = 0;
  for (const auto& u : data.users) calls += expected_calls(data, u, config.batch_size);
  EXPECT_EQ(summary.users_ok, 6);
  EXPECT_EQ(summary.users_failed, 0);
  EXPECT_EQ(summary.calls, calls);
  EXPECT_EQ(summary.prompt_tokens, 100 * calls);
  EXPECT_EQ(summary.completion_tokens, 50 * calls);
  EXPECT_GE(server.requests(), 2 * calls);  // every step failed once first
  auto memories = load_memories(run, *comm);
  ASSERT_EQ(memories.size(), 6u);
  for (std::size_t i = 0; i < memories.size(); ++i) {
    const auto& m = memories[i];
    const auto& u = data.users[i];
    auto train = data.train_of(u);
    auto first = data.items[static_cast<std::size_t>(train[0].item)];
    EXPECT_EQ(m.user_id, u.id);
    EXPECT_EQ(m.provider, "openai");
    EXPECT_EQ(m.model, "fake-model");
    EXPECT_TRUE(starts_with(m.prompt_version, "distill-v1@")) << m.prompt_version;
    EXPECT_EQ(m.profile, "I am the viewer who started with " + first.title + " (" + std::to_string(first.year) + "). Reflected.");
    ASSERT_EQ(m.notes.size(), train.size());
    for (std::size_t k = 0; k < train.size(); ++k) {
      auto label = movie_label(data.items[static_cast<std::size_t>(train[k].item)]);
      EXPECT_EQ(m.notes[k].text, fmt::format("I rated {} as {} because scripted reason for {}.", label,
                                             format_rating(train[k].rating), label));
    }
  }
}

TEST(DistillLlm, RepairShortenAndFailureWithReason) {
  auto data = testing::tiny_dataset(4);
  auto key_of = [&](int u) {
    return movie_label(data.items[static_cast<std::size_t>(data.train_of(data.users[static_cast<std::size_t>(u)])[0].item)]);
  };
  std::string cut = key_of(0), hopeless = key_of(1), wordy = key_of(2), broken_utf8 = key_of(3);
  std::string long_text;
  for (int i = 0; i < 80; ++i) long_text += " word";
  FakeOpenAiServer server([&](const FakeRequest& req) {
    auto p = testing::read_prompt(req.body);
    auto good = testing::scripted_answer(p);
    if (p.key == cut && !p.reflection && p.titles.size() && p.titles[0] == cut && !p.repair)
      return testing::answer(good.substr(0, good.size() / 2));  // truncated JSON
    if (p.key == hopeless) return testing::answer("Sure! Here is the profile you asked for.");
    if (p.key == wordy && p.reflection) return testing::answer(testing::scripted_answer(p, long_text));
    if (p.key == broken_utf8 && p.reflection)
      return FakeResponse{200,
                          R"({"choices":[{"message":{"role":"assistant","content":"{\"profile\": \"caf)" "\xC3"
                          R"( ok\"}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}})",
                          {}, 0, FakeResponse::Fault::none};
    return testing::answer(good);
  });
  testing::TempDir tmp;
  RunDir run(tmp.path());
  auto comm = make_local_comm();
  auto config = fake_config(server);
  config.max_words = 40;
  auto summary = run_distill(run, data, config, {}, *comm);
  EXPECT_EQ(summary.users_ok, 3);
  EXPECT_EQ(summary.users_failed, 1);
  int calls = 0;
  for (int u : {0, 2, 3}) calls += expected_calls(data, data.users[static_cast<std::size_t>(u)], config.batch_size);
  calls += 1 /*repair for cut*/ + 1 /*shorten for wordy*/ + 2 /*hopeless: ask + repair*/;
  EXPECT_EQ(summary.calls, calls);
  EXPECT_EQ(server.requests(), calls);  // no transport retries here
  auto memories = load_memories(run, *comm);
  ASSERT_EQ(memories.size(), 3u);
  EXPECT_EQ(memories[0].user_id, data.users[0].id);
  EXPECT_EQ(memories[0].notes.size(), static_cast<std::size_t>(data.users[0].n_train));
  EXPECT_EQ(memories[1].user_id, data.users[2].id);
  EXPECT_EQ(count_words(memories[1].profile), 40u);  // truncated after one request to shorten
  EXPECT_EQ(memories[2].user_id, data.users[3].id);
  EXPECT_EQ(memories[2].profile, "caf\xEF\xBF\xBD ok");
  auto failed = read_records(run.rank_file("distill", "failed", 0, "jsonl"));
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].memory.user_id, data.users[1].id);
  EXPECT_NE(failed[0].reason.find("batch 1/"), std::string::npos) << failed[0].reason;
  EXPECT_NE(failed[0].reason.find("not usable after one repair request"), std::string::npos) << failed[0].reason;

  // --retry-failed redoes only that user, once the endpoint behaves.
  hopeless = "(nobody)";
  int before = server.requests();
  DistillRunOptions retry;
  retry.retry_failed = true;
  auto again = run_distill(run, data, config, retry, *comm);
  EXPECT_EQ(again.users_ok, 4);
  EXPECT_EQ(again.users_failed, 0);
  EXPECT_EQ(again.users_done_now, 1);
  EXPECT_EQ(server.requests() - before, expected_calls(data, data.users[1], config.batch_size));
  EXPECT_EQ(load_memories(run, *comm).size(), 4u);
  EXPECT_TRUE(read_records(run.rank_file("distill", "failed", 0, "jsonl")).empty());
}

TEST(DistillLlm, KilledRunResumesWithoutRepeatingFinishedUsers) {
  auto data = testing::tiny_dataset(9);
  FakeOpenAiServer server([&](const FakeRequest& req) { return testing::answer(testing::scripted_answer(testing::read_prompt(req.body))); });
  testing::TempDir tmp;
  RunDir run(tmp.path());
  auto comm = make_local_comm();
  auto config = fake_config(server);
  DistillRunOptions killed;
  killed.stop_after_users = 4;
  EXPECT_THROW(run_distill(run, data, config, killed, *comm), Error);
  EXPECT_FALSE(run.done_marker("distill").has_value());
  // The users saved before the "kill".
  std::set<std::int64_t> saved;
  for (const auto& e : fs::directory_iterator(run.stage_dir("distill") / "parts"))
    for (const auto& r : read_records(e.path())) EXPECT_TRUE(saved.insert(r.index).second);
  EXPECT_EQ(saved.size(), 4u);
  int before = server.settled_requests();  // the killed run's last requests may still be in the server
  auto summary = run_distill(run, data, config, {}, *comm);
  EXPECT_EQ(summary.users_resumed, 4);
  EXPECT_EQ(summary.users_done_now, 5);
  int expected = 0;
  for (std::size_t i = 0; i < data.users.size(); ++i)
    if (!saved.count(static_cast<std::int64_t>(i))) expected += expected_calls(data, data.users[i], config.batch_size);
  EXPECT_EQ(server.requests() - before, expected);  // no call for a user already done
  auto records = read_records(run.rank_file("distill", "memories", 0, "jsonl"));
  ASSERT_EQ(records.size(), 9u);
  for (std::size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].index, static_cast<std::int64_t>(i));
  EXPECT_FALSE(fs::exists(run.stage_dir("distill") / "parts"));
}

TEST(DistillOffline, ChangedConfigurationStartsOver) {
  auto data = testing::tiny_dataset(5);
  testing::TempDir tmp;
  RunDir run(tmp.path());
  auto comm = make_local_comm();
  DistillRunOptions a;
  a.upstream_hash = "prepare-A";
  run_distill(run, data, {}, a, *comm);
  DistillRunOptions b;
  b.upstream_hash = "prepare-B";
  auto summary = run_distill(run, data, {}, b, *comm);
  EXPECT_FALSE(summary.skipped);
  EXPECT_EQ(summary.users_done_now, 5);
  EXPECT_EQ(summary.users_resumed, 0);
}

}  // namespace
}  // namespace personas
