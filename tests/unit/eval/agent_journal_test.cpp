// The agent journal keeps the ratings of finished users across a stopped run:
// whole users only, any earlier rank count, never another configuration's.
#include "eval/agent_journal.h"

#include <gtest/gtest.h>

#include <fstream>

#include "comm/comm.h"
#include "core/errors.h"
#include "eval_test_data.h"
#include "support/test_support.h"

namespace personas {
namespace {

AgentRating rating(const Dataset& d, int user, int item, double predicted) {
  AgentRating r;
  r.user = user;
  r.user_id = d.users[static_cast<std::size_t>(user)].id;
  r.item = item;
  r.truth = 4;
  r.predicted = predicted;
  r.argmax = 4;
  r.probs = {0.1f, 0.1f, 0.2f, 0.4f, 0.2f};
  r.text = "4 \"quoted\"";
  return r;
}

std::vector<AgentRating> ratings_of(const Dataset& d, int user, int n) {
  std::vector<AgentRating> out;
  for (int i = 0; i < n; ++i) out.push_back(rating(d, user, i, 3.0 + 0.1 * (user + i)));
  return out;
}

TEST(AgentJournal, KeepsWholeUsersWithEveryField) {
  testing::TempDir dir;
  auto comm = make_local_comm();
  const auto data = testing::make_model_ratings(4, 6, 5, 1);
  AgentJournal journal(dir.path(), "agent_zero_shot", "k1", *comm);
  auto first = ratings_of(data, 0, 3);
  auto second = ratings_of(data, 2, 2);
  first.insert(first.end(), second.begin(), second.end());
  journal.append(first, data);

  const auto done = AgentJournal(dir.path(), "agent_zero_shot", "k1", *comm).finished(data);
  ASSERT_EQ(done.size(), 2u);
  ASSERT_EQ(done.at(data.users[0].id).size(), 3u);
  ASSERT_EQ(done.at(data.users[2].id).size(), 2u);
  const AgentRating& r = done.at(data.users[2].id)[1];
  EXPECT_EQ(r.user, 2);
  EXPECT_EQ(r.item, 1);
  EXPECT_DOUBLE_EQ(r.predicted, first[4].predicted);
  EXPECT_EQ(r.probs, first[4].probs);
  EXPECT_EQ(r.text, "4 \"quoted\"");
  EXPECT_EQ(done.count(data.users[1].id), 0u);
}

TEST(AgentJournal, TornWriteLosesOnlyItsUsers) {
  testing::TempDir dir;
  auto comm = make_local_comm();
  const auto data = testing::make_model_ratings(3, 6, 5, 2);
  AgentJournal journal(dir.path(), "agent_persona", "k", *comm);
  journal.append(ratings_of(data, 0, 2), data);
  {
    // kill -9 in the middle of the next chunk: one whole rating line of user 1,
    // then half a line, no closing line.
    std::ofstream out(journal.path(), std::ios::app);
    out << R"({"user":11,"item":1000,"truth":4,"predicted":3.5,"argmax":4,"unrelated":false,"adapter":-1,"probs":[0,0,0,1,0],"text":""})"
        << "\n{\"user\":11,\"it";
  }
  const auto done = journal.finished(data);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done.count(data.users[0].id), 1u);
  // The rerun cuts the torn line off before it appends, so its users are read too.
  AgentJournal rerun(dir.path(), "agent_persona", "k", *comm);
  rerun.append(ratings_of(data, 2, 2), data);
  const auto after = rerun.finished(data);
  EXPECT_EQ(after.size(), 2u);
  EXPECT_EQ(after.count(data.users[2].id), 1u);
}

TEST(AgentJournal, AnyEarlierRankCountAndOnlyThisRanksUsers) {
  testing::TempDir dir;
  auto comm = make_local_comm();
  const auto data = testing::make_model_ratings(3, 6, 5, 3);
  {
    AgentJournal journal(dir.path(), "agent_global", "k", *comm);
    journal.append(ratings_of(data, 0, 2), data);
    std::filesystem::rename(journal.path(), dir.path() / "eval" / "agents" / "agent_global-k-rank-00001.jsonl");
    journal.append(ratings_of(data, 2, 1), data);
  }
  AgentJournal journal(dir.path(), "agent_global", "k", *comm);
  EXPECT_EQ(journal.finished(data).size(), 2u);
  // A rank that holds only user 2 gets user 2 alone, its index in that block.
  Dataset block = data;
  block.users.erase(block.users.begin(), block.users.begin() + 2);
  const auto mine = journal.finished(block);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine.at(data.users[2].id).front().user, 0);
}

TEST(AgentJournal, AnotherKeyIsRemovedAndOtherPredictorsKept) {
  testing::TempDir dir;
  auto comm = make_local_comm();
  const auto data = testing::make_model_ratings(2, 6, 5, 4);
  AgentJournal(dir.path(), "agent_persona", "old", *comm).append(ratings_of(data, 0, 2), data);
  AgentJournal(dir.path(), "agent_global", "old", *comm).append(ratings_of(data, 0, 2), data);
  AgentJournal fresh(dir.path(), "agent_persona", "new", *comm);
  EXPECT_TRUE(fresh.finished(data).empty());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "eval" / "agents" / "agent_persona-old-rank-00000.jsonl"));
  EXPECT_EQ(AgentJournal(dir.path(), "agent_global", "old", *comm).finished(data).size(), 1u);
}

TEST(AgentJournal, ACountThatDoesNotMatchIsADataErrorNamingTheLine) {
  testing::TempDir dir;
  auto comm = make_local_comm();
  const auto data = testing::make_model_ratings(2, 6, 5, 5);
  AgentJournal journal(dir.path(), "agent_persona", "k", *comm);
  journal.append(ratings_of(data, 0, 1), data);
  { std::ofstream(journal.path(), std::ios::app) << "{\"done\":11,\"n\":3}\n"; }
  try {
    journal.finished(data);
    FAIL() << "expected a data error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(std::string(e.what()).find("rank-00000.jsonl:3"), std::string::npos) << e.what();
  }
}

// A line that is JSON but not a rating (a field missing or of the wrong type,
// a closing line with a string id) is a data error naming file and line, not
// a bare JSON exception.
TEST(AgentJournal, AMalformedRatingLineIsADataErrorNamingTheLine) {
  const auto data = testing::make_model_ratings(2, 6, 5, 6);
  const std::string good_user = std::to_string(data.users[0].id);
  const std::string good_item = std::to_string(data.items[0].id);
  const std::vector<std::string> bad_lines = {
      "{\"user\":" + good_user + ",\"item\":" + good_item + "}",                       // fields missing
      "{\"user\":\"x\",\"item\":" + good_item + "}",                                  // user of the wrong type
      "{\"user\":" + good_user + ",\"item\":" + good_item +
          ",\"truth\":4,\"predicted\":3.5,\"argmax\":4,\"unrelated\":false,\"adapter\":0,"
          "\"probs\":[0.2,0.2,0.2,0.4],\"text\":\"4\"}",                              // four probabilities
      "{\"done\":\"" + good_user + "\",\"n\":0}",                                       // closing id a string
  };
  for (const auto& bad : bad_lines) {
    testing::TempDir dir;
    auto comm = make_local_comm();
    AgentJournal journal(dir.path(), "agent_global", "k", *comm);
    journal.append(ratings_of(data, 0, 1), data);
    { std::ofstream(journal.path(), std::ios::app) << bad << "\n"; }
    try {
      journal.finished(data);
      FAIL() << "expected a data error for " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::data) << bad;
      EXPECT_NE(std::string(e.what()).find("rank-00000.jsonl:3"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace personas
