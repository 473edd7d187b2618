// Generate mode (eval.agent_mode = generate, `personas simulate --explain`):
// every (user, item) answer is sampled with its own seed in one batched
// generation, a user's later items copying the prompt prefix from its first
// item's KV cache. Each answer must be the one that pair gets alone (no
// batch, no cache), whatever the batch size and the order of the pairs.
#include <gtest/gtest.h>

#include <algorithm>

#include "agent_fixture.h"
#include "eval/agent_scoring.h"

namespace personas {
namespace {

AgentScoringOptions generate_options(const AgentFixture& f, int batch) {
  auto o = f.options(true);
  o.mode = AgentMode::generate;
  o.generate_tokens = 6;
  o.temperature = 0.9f;
  o.seed = 77;
  o.batch_rows = batch;
  o.log_progress = false;
  return o;
}

void expect_same(const AgentRating& a, const AgentRating& b, const std::string& what) {
  EXPECT_EQ(a.user, b.user) << what;
  EXPECT_EQ(a.item, b.item) << what;
  EXPECT_EQ(a.adapter, b.adapter) << what;
  EXPECT_EQ(a.text, b.text) << what;
  EXPECT_EQ(a.unrelated, b.unrelated) << what;
  EXPECT_EQ(a.predicted, b.predicted) << what;
}

TEST(AgentGenerate, BatchedAnswersAreEachPairsAnswerAlone) {
  AgentFixture f;
  std::vector<UserItem> pairs;
  for (std::int32_t u = 0; u < 3; ++u)
    for (const auto& x : f.data.test_of(f.data.users[static_cast<std::size_t>(u)])) pairs.push_back({u, x.item, x.rating});
  ASSERT_EQ(pairs.size(), 4u + 7u + 10u);

  const auto batched = rate_items(*f.model, *f.tokenizer, f.data, f.memories, f.vectors, f.adapter_of_user, pairs,
                                  generate_options(f, 5));
  ASSERT_EQ(batched.size(), pairs.size());
  std::size_t distinct = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto alone = rate_items(*f.model, *f.tokenizer, f.data, f.memories, f.vectors, f.adapter_of_user,
                                  {pairs[i]}, generate_options(f, 1));
    ASSERT_EQ(alone.size(), 1u);
    expect_same(batched[i], alone[0], "pair " + std::to_string(i));
    EXPECT_EQ(batched[i].item, pairs[i].item);
    if (i > 0 && !batched[i].text.empty() && batched[i].text != batched[i - 1].text) ++distinct;
  }
  EXPECT_GT(distinct, pairs.size() / 2) << "every pair has its own sampling stream (and most say something)";

  // Another batch size and the pairs in reverse order: the same answers, in the caller's order.
  std::vector<UserItem> reversed(pairs.rbegin(), pairs.rend());
  const auto again = rate_items(*f.model, *f.tokenizer, f.data, f.memories, f.vectors, f.adapter_of_user, reversed,
                                generate_options(f, 2));
  ASSERT_EQ(again.size(), pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i)
    expect_same(again[pairs.size() - 1 - i], batched[i], "reversed " + std::to_string(i));
}

}  // namespace
}  // namespace personas
