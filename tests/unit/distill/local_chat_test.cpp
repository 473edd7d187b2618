// distill.provider = local: the chat template and scaffold rendering on exact
// strings, the LocalChatClient on a tiny random checkpoint (answers parse,
// deterministic whatever the queue order, prompts cut to fit), and the whole
// distill stage with it (every user once, notes for every training item,
// valid UTF-8, resume after a kill, the free format's failures listed).
#include <gtest/gtest.h>

#include <set>

#include "comm/comm.h"
#include "core/errors.h"
#include "core/strings.h"
#include "distill/distill_stage.h"
#include "distill/llm_distiller.h"
#include "distill/local_chat_client.h"
#include "distill/memory_records.h"
#include "io/jsonl.h"
#include "support/test_support.h"
#include "tiny_dataset.h"
#include "tiny_local_model.h"

namespace personas {
namespace {

TEST(LocalChat, ScaffoldBuildsTheJsonTheDistillerParses) {
  std::vector<std::string> asked;
  std::vector<std::string> values = {"it is \"funny\"\\ok", "", "like comedies.\tA lot"};
  std::size_t next = 0;
  AnswerShape shape{true, 2, {}};
  auto answer = build_scaffold_answer(shape, [&](const std::string& so_far, const std::string& slot) {
    asked.push_back(slot + "|" + so_far);
    return values[next++];
  });
  EXPECT_EQ(answer,
            "{\"notes\": [{\"item\": 1, \"reason\": \"because it is \\\"funny\\\"\\\\ok\"}, {\"item\": 2, \"reason\": "
            "\"\"}], \"profile\": \"I like comedies. A lot\"}");
  // The model is shown plain lines, not the JSON.
  ASSERT_EQ(asked.size(), 3u);
  EXPECT_EQ(asked[0], "reason|1. I rated it so because ");
  EXPECT_EQ(asked[1], "reason|1. I rated it so because it is \"funny\"\\ok\n2. I rated it so because ");
  EXPECT_EQ(asked[2], "profile|1. I rated it so because it is \"funny\"\\ok\n2. I rated it so because \nMy profile: I ");
  nlohmann::json j;
  std::string error;
  ASSERT_TRUE(extract_json_object(answer, j, error)) << error;
  EXPECT_EQ(j["notes"][0]["reason"], "because it is \"funny\"\\ok");
  EXPECT_EQ(j["profile"], "I like comedies. A lot");

  auto reflect = build_scaffold_answer({true, -1, {}}, [](const std::string& so_far, const std::string&) {
    EXPECT_EQ(so_far, "My profile: I ");
    return std::string("  am still me.  ");
  });
  EXPECT_EQ(reflect, "{\"profile\": \"I am still me.\"}");

  // With hints, each note's line names its movie and stars; the JSON is the same shape.
  AnswerShape hinted{true, 2, {}};
  hinted.note_hints = {{"Kolya (1996)", "4"}, {"Say \"Hi\"", "2.5"}};
  asked.clear();
  auto with_hints = build_scaffold_answer(hinted, [&](const std::string& so_far, const std::string& slot) {
    asked.push_back(slot + "|" + so_far);
    return std::string(slot == "profile" ? "am me." : "it moved me");
  });
  EXPECT_EQ(asked[0], "reason|1. Kolya (1996), 4 stars: I gave it 4 stars because ");
  EXPECT_EQ(asked[1], "reason|1. Kolya (1996), 4 stars: I gave it 4 stars because it moved me\n"
                      "2. Say \"Hi\", 2.5 stars: I gave it 2.5 stars because ");
  EXPECT_EQ(with_hints,
            "{\"notes\": [{\"item\": 1, \"reason\": \"because it moved me\"}, {\"item\": 2, \"reason\": \"because it "
            "moved me\"}], \"profile\": \"I am me.\"}");
}

TEST(LocalChat, CleansInvalidUtf8AndControlCharacters) {
  EXPECT_EQ(clean_generated_text("ok \xff\xfe caf\xc3\xa9 \xe2\x82 \x01x\ny", true), "ok  café  x\ny");
  EXPECT_EQ(clean_generated_text("a\nb\tc\x7f", false), "a b c");
  EXPECT_EQ(clean_generated_text("\xf0\x9f\x8e\xac movie", false), "\xf0\x9f\x8e\xac movie");
  EXPECT_TRUE(is_valid_utf8(clean_generated_text("\xc3", false)));
}

struct Engine {
  testing::TempDir dir;
  LocalEngine engine;
  explicit Engine(bool chat_tokens = true, std::int64_t positions = 512) {
    testing::write_tiny_local_checkpoint(dir / "tiny.h5", chat_tokens, 11, positions);
    engine = load_local_engine(dir / "tiny.h5", BackendKind::cpu, 0);
  }
};

std::vector<ChatMessage> batch_chat(const std::string& who) {
  return {{"system", "You write the memories of one movie viewer."},
          {"user", "I am " + who + ". Say why I rated Movie 1 four stars and Movie 2 two stars, then my profile."}};
}

TEST(LocalChat, PollEndsTheBatchWithinATokenAndAnswersNoChat) {
  // A stop request mid-generation (distill's poll throws LocalStop) ends run()
  // at the next token: no chat is answered, none is half-delivered.
  Engine e;
  struct Stop {};
  LocalChatOptions o;
  o.model_name = "tiny.h5";
  o.max_seq = 256;
  o.note_tokens = 12;
  o.profile_tokens = 24;
  int tokens = 0;
  o.poll = [&tokens] {
    if (++tokens == 5) throw Stop{};
  };
  LocalChatClient client(*e.engine.model, *e.engine.tokenizer, o);
  ChatOptions chat;
  chat.temperature = 0.8;
  chat.seed = 5;
  chat.shape = {true, 2, {}};
  int answered = 0;
  for (int k = 0; k < 3; ++k)
    client.chat_async(batch_chat("user " + std::to_string(k)), chat, [&answered](ChatResult&&) { ++answered; });
  EXPECT_THROW(client.run(), Stop);
  EXPECT_EQ(tokens, 5);
  EXPECT_EQ(answered, 0);
  EXPECT_EQ(client.usage().calls, 0);
}

TEST(LocalChat, ScaffoldAnswersParseAndAreDeterministicInAnyOrder) {
  Engine e;
  LocalChatOptions o;
  o.model_name = "tiny.h5";
  o.max_seq = 256;
  o.note_tokens = 12;
  o.profile_tokens = 24;
  ChatOptions chat;
  chat.temperature = 0.8;
  chat.seed = 5;
  chat.shape = {true, 2, {}};
  auto answers = [&](bool reversed) {
    LocalChatClient client(*e.engine.model, *e.engine.tokenizer, o);
    EXPECT_EQ(client.chat_format(), ChatFormat::templated);
    std::vector<std::string> out(3);
    std::vector<int> order = reversed ? std::vector<int>{2, 1, 0} : std::vector<int>{0, 1, 2};
    for (int k : order)
      client.chat_async(batch_chat("user " + std::to_string(k)), chat,
                        [&out, k](ChatResult&& r) { out[static_cast<std::size_t>(k)] = r.text; });
    client.run();
    EXPECT_EQ(client.usage().calls, 3);
    EXPECT_GT(client.usage().completion_tokens, 0);
    EXPECT_GT(client.usage().prompt_tokens, client.usage().completion_tokens);
    EXPECT_EQ(client.usage().cost_usd, 0.0);
    return out;
  };
  auto forward = answers(false), backward = answers(true);
  EXPECT_EQ(forward, backward);
  EXPECT_NE(forward[0], forward[1]);  // each chat has its own seed
  for (const auto& text : forward) {
    nlohmann::json j;
    std::string error;
    ASSERT_TRUE(extract_json_object(text, j, error)) << error << ": " << text;
    ASSERT_TRUE(j["notes"].is_array());
    EXPECT_EQ(j["notes"].size(), 2u);
    EXPECT_TRUE(j["profile"].is_string());
    EXPECT_TRUE(is_valid_utf8(text));
  }
}

// The pool of key/value caches: a scaffold's next value and a conversation's
// next turn start from the cache the last request left, so most prompt tokens
// are not prefilled again; the answers are the same bytes as without the pool,
// in any order, with one slot or many.
TEST(LocalChat, ReusedCachesGiveTheSameAnswersAndSkipMostPrefill) {
  Engine e;
  LocalChatOptions o;
  o.model_name = "tiny.h5";
  o.max_seq = 512;  // whole conversations: a prompt cut from the left shares no prefix
  o.note_tokens = 8;
  o.profile_tokens = 12;
  ChatOptions chat;
  chat.temperature = 0.8;
  chat.seed = 9;
  chat.shape = {true, 2, {}};
  struct Outcome {
    std::vector<std::string> texts;
    std::int64_t prompt_tokens = 0, reused = 0;
  };
  auto converse = [&](bool reuse, int slots, bool reversed) {
    o.reuse_caches = reuse;
    o.max_batch = slots;
    LocalChatClient client(*e.engine.model, *e.engine.tokenizer, o);
    Outcome out;
    out.texts.resize(6);
    // Three chats of two turns: the second turn carries the first answer.
    std::function<void(int, int, std::vector<ChatMessage>)> ask = [&](int who, int turn, std::vector<ChatMessage> m) {
      client.chat_async(m, chat, [&, who, turn, m](ChatResult&& r) mutable {
        out.texts[static_cast<std::size_t>(2 * who + turn)] = r.text;
        if (turn == 1) return;
        m.push_back({"assistant", r.text});
        m.push_back({"user", "Now two more movies, then the profile again."});
        ask(who, 1, m);
      });
    };
    std::vector<int> order = reversed ? std::vector<int>{2, 1, 0} : std::vector<int>{0, 1, 2};
    for (int who : order) ask(who, 0, batch_chat("user " + std::to_string(who)));
    client.run();
    EXPECT_EQ(client.usage().calls, 6);
    out.prompt_tokens = client.usage().prompt_tokens;
    out.reused = client.reused_prompt_tokens();
    return out;
  };
  const Outcome plain = converse(false, 4, false);
  EXPECT_EQ(plain.reused, 0);
  for (int slots : {1, 4}) {
    for (bool reversed : {false, true}) {
      const Outcome pooled = converse(true, slots, reversed);
      EXPECT_EQ(pooled.texts, plain.texts) << slots << " slots";
      EXPECT_EQ(pooled.prompt_tokens, plain.prompt_tokens);
      // 3 values per turn, each re-reading the whole conversation without the
      // pool (the random model's tokens often re-encode otherwise: a real model
      // shares more).
      EXPECT_GT(pooled.reused, pooled.prompt_tokens * 6 / 10) << pooled.reused << " of " << pooled.prompt_tokens;
    }
  }
  // Conversations longer than max_seq are cut from the left in steps of a
  // quarter of it, so their prompts still share a start between two steps
  // (here a value adds about half a step: a quarter is reused; a cut to the
  // last max_seq tokens exactly reused 0.5%).
  o.max_seq = 256;
  chat.shape = {true, 4, {}};
  const Outcome cut_plain = converse(false, 4, false);
  const Outcome cut_pooled = converse(true, 4, false);
  EXPECT_EQ(cut_pooled.texts, cut_plain.texts);
  EXPECT_GT(cut_pooled.reused, cut_pooled.prompt_tokens * 2 / 10) << cut_pooled.reused << " of "
                                                                   << cut_pooled.prompt_tokens;
}

TEST(LocalChat, TranscriptFormatFreeTextAndLeftTruncation) {
  Engine e(/*chat_tokens=*/false, /*positions=*/64);
  LocalChatOptions o;
  o.model_name = "plain.h5";
  o.max_seq = 4096;  // capped by the model's 64 positions
  o.format = LocalFormat::free;
  LocalChatClient client(*e.engine.model, *e.engine.tokenizer, o);
  EXPECT_EQ(client.chat_format(), ChatFormat::transcript);
  ChatOptions chat;
  chat.max_tokens = 2048;  // capped to half the positions
  std::string long_text;
  for (int k = 0; k < 50; ++k) long_text += "I rated movie " + std::to_string(k) + " four stars. ";
  auto r = client.chat({{"user", long_text}}, chat);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(client.truncated_prompts(), 1);
  // 64 positions - 32 to generate; the cut moves in steps of 16 (a quarter of the positions).
  EXPECT_LE(r.prompt_tokens, 32);
  EXPECT_GT(r.prompt_tokens, 16);
  EXPECT_LE(r.completion_tokens, 32);
  EXPECT_TRUE(is_valid_utf8(r.text));
  EXPECT_EQ(r.text.find("\nUser:"), std::string::npos);
  EXPECT_EQ(client.model(), "plain.h5");
}

std::vector<MemoryRecord> read_records(const fs::path& path) {
  std::vector<MemoryRecord> out;
  if (!fs::exists(path)) return out;
  read_jsonl(path, [&](const nlohmann::json& j, std::size_t line) { out.push_back(record_from_json(j, std::to_string(line))); });
  return out;
}

DistillConfig local_config() {
  DistillConfig c;
  c.provider = Provider::local;
  c.prompts = (testing::source_dir() / "configs/prompts/distill-v1").string();
  c.batch_size = 5;
  c.local_note_tokens = 10;
  c.local_profile_tokens = 20;
  c.users_per_chunk = 2;
  return c;
}

TEST(DistillLocal, EveryUserOnceWithNotesForEveryTrainingItem) {
  testing::TempDir tmp;
  testing::write_tiny_local_checkpoint(tmp / "tiny.h5");
  auto data = testing::tiny_dataset(4);
  RunDir run(tmp / "run");
  auto comm = make_local_comm();
  DistillRunOptions options;
  options.local_checkpoint = (tmp / "tiny.h5").string();
  options.local_max_seq = 256;
  options.backend = BackendKind::cpu;
  auto config = local_config();
  auto summary = run_distill(run, data, config, options, *comm);
  EXPECT_EQ(summary.users_ok, 4);
  EXPECT_EQ(summary.users_failed, 0);
  EXPECT_GT(summary.completion_tokens, 0);
  EXPECT_EQ(summary.cost_usd, 0.0);
  auto records = read_records(run.rank_file("distill", "memories", 0, "jsonl"));
  ASSERT_EQ(records.size(), 4u);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    const auto& user = data.users[i];
    EXPECT_EQ(r.index, static_cast<std::int64_t>(i));
    EXPECT_EQ(r.memory.user_id, user.id);
    EXPECT_EQ(r.memory.provider, "local");
    EXPECT_EQ(r.memory.model, (tmp / "tiny.h5").string());
    EXPECT_FALSE(trim(r.memory.profile).empty());
    EXPECT_TRUE(is_valid_utf8(r.memory.profile));
    auto train = data.train_of(user);
    ASSERT_EQ(r.memory.notes.size(), train.size());
    for (std::size_t k = 0; k < train.size(); ++k) {
      EXPECT_EQ(r.memory.notes[k].item, train[k].item);
      EXPECT_TRUE(is_valid_utf8(r.memory.notes[k].text));
      EXPECT_TRUE(starts_with(r.memory.notes[k].text, "I rated ")) << r.memory.notes[k].text;
    }
  }
  auto marker = run.done_marker("distill");
  ASSERT_TRUE(marker.has_value());
  EXPECT_EQ(marker->value("provider", ""), "local");
  EXPECT_EQ(marker->value("model", ""), (tmp / "tiny.h5").string());

  // Done: a rerun is skipped; another checkpoint at the same path is not.
  EXPECT_TRUE(run_distill(run, data, config, options, *comm).skipped);
  testing::write_tiny_local_checkpoint(tmp / "tiny.h5", true, /*seed=*/12);
  auto again = run_distill(run, data, config, options, *comm);
  EXPECT_FALSE(again.skipped);
  EXPECT_EQ(again.users_done_now, 4);
}

TEST(DistillLocal, KilledRunResumesAndOutputsMatchAnUninterruptedRun) {
  testing::TempDir tmp;
  testing::write_tiny_local_checkpoint(tmp / "tiny.h5");
  auto data = testing::tiny_dataset(5);
  auto comm = make_local_comm();
  DistillRunOptions options;
  options.local_checkpoint = (tmp / "tiny.h5").string();
  options.local_max_seq = 192;
  options.backend = BackendKind::cpu;
  auto config = local_config();
  config.reflection = false;
  auto calls_of = [&](std::size_t from) {
    int calls = 0;
    for (std::size_t i = from; i < 5; ++i) calls += (data.users[i].n_train + config.batch_size - 1) / config.batch_size;
    return calls;
  };
  RunDir whole(tmp / "whole");
  auto all = run_distill(whole, data, config, options, *comm);  // every user in conversation at once
  EXPECT_EQ(all.calls, calls_of(0));

  // One user at a time, so that the two saved before the kill are the first two.
  config.in_flight = 1;
  RunDir run(tmp / "run");
  auto killed = options;
  killed.stop_after_users = 2;
  EXPECT_THROW(run_distill(run, data, config, killed, *comm), Error);
  auto summary = run_distill(run, data, config, options, *comm);
  EXPECT_EQ(summary.users_resumed, 2);
  EXPECT_EQ(summary.users_done_now, 3);
  EXPECT_EQ(summary.calls, calls_of(2));  // nothing redone for the users saved before the kill
  EXPECT_EQ(read_file(run.rank_file("distill", "memories", 0, "jsonl")),
            read_file(whole.rank_file("distill", "memories", 0, "jsonl")));
}

TEST(DistillLocal, FreeFormatFailuresAreListedAndRetried) {
  // A random model does not write JSON: every user fails after one repair
  // request, and is listed with the reason; --retry-failed redoes them.
  testing::TempDir tmp;
  testing::write_tiny_local_checkpoint(tmp / "tiny.h5");
  auto data = testing::tiny_dataset(2);
  RunDir run(tmp / "run");
  auto comm = make_local_comm();
  DistillRunOptions options;
  options.local_checkpoint = (tmp / "tiny.h5").string();
  options.local_max_seq = 128;
  options.backend = BackendKind::cpu;
  auto config = local_config();
  config.local_format = LocalFormat::free;
  auto summary = run_distill(run, data, config, options, *comm);
  EXPECT_EQ(summary.users_ok, 0);
  EXPECT_EQ(summary.users_failed, 2);
  EXPECT_EQ(summary.calls, 4);  // the first batch and its repair, per user
  auto failed = read_records(run.rank_file("distill", "failed", 0, "jsonl"));
  ASSERT_EQ(failed.size(), 2u);
  for (const auto& r : failed) EXPECT_NE(r.reason.find("answer not usable after one repair request"), std::string::npos) << r.reason;
  // --retry-failed redoes exactly them (and, deterministic, they fail the same way).
  auto retry = options;
  retry.retry_failed = true;
  auto again = run_distill(run, data, config, retry, *comm);
  EXPECT_EQ(again.users_done_now, 2);
  EXPECT_EQ(again.calls, 4);
  EXPECT_EQ(again.users_failed, 2);
  auto failed_again = read_records(run.rank_file("distill", "failed", 0, "jsonl"));
  ASSERT_EQ(failed_again.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(failed_again[i].reason, failed[i].reason);
}

TEST(DistillLocal, MissingCheckpointIsAnIoErrorWithAHint) {
  auto data = testing::tiny_dataset(3);
  testing::TempDir tmp;
  auto comm = make_local_comm();
  DistillRunOptions options;
  options.local_checkpoint = (tmp / "run/model/base.h5").string();
  try {
    run_distill(RunDir(tmp / "run"), data, local_config(), options, *comm);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(e.message().find("base.h5' does not exist"), std::string::npos) << e.message();
    EXPECT_NE(e.hint().find("model.path"), std::string::npos) << e.hint();
  }
}

}  // namespace
}  // namespace personas
