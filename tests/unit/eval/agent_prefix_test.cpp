// Agents' expected ratings with prefix sharing (a user's items scored as
// continuations of their common prompt prefix, its KV cache computed once per
// user and adapter) equal the whole-prompt scoring within 1e-5, with LoRA on
// q/k/v, mixed adapters, and items whose prompt fit_prompt shortened (scored
// whole); a user's ratings do not depend on the other users in the call.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "agent_fixture.h"
#include "eval/agent_scoring.h"
#include "support/test_support.h"
#include "train/rating_tokens.h"

namespace personas {
namespace {

TEST(AgentPrefix, SharedPrefixGivesTheWholePromptRatings) {
  AgentFixture f;
  // A length limit between user 1's short and long prompts: some of its items
  // get a cut profile (fit_prompt), so they cannot share the prefix.
  ChatTemplateEncoder encoder(*f.tokenizer);
  std::vector<std::size_t> lengths;
  int shortened = 0;
  const auto& user = f.data.users[1];
  for (const auto& x : f.data.test_of(user)) {
    auto o = f.options(true).sample;
    lengths.push_back(build_eval_prompt(f.data, user, f.memories[1], f.vectors, encoder, o, x.item).ids.size());
  }
  std::sort(lengths.begin(), lengths.end());
  ASSERT_GT(lengths.back(), lengths.front() + 4) << "the fixture's prompts must differ in length";
  f.max_len = static_cast<int>((lengths.front() + lengths.back()) / 2);
  for (const auto& x : f.data.test_of(user)) {
    bool cut = false;
    build_eval_prompt(f.data, user, f.memories[1], f.vectors, encoder, f.options(true).sample, x.item, &cut);
    shortened += cut ? 1 : 0;
  }
  ASSERT_GT(shortened, 0);
  ASSERT_LT(shortened, static_cast<int>(f.data.test_of(user).size()));

  const auto shared = rate_test_items(*f.model, *f.tokenizer, f.data, f.memories, f.vectors, f.adapter_of_user, f.options(true));
  const auto whole = rate_test_items(*f.model, *f.tokenizer, f.data, f.memories, f.vectors, f.adapter_of_user, f.options(false));
  ASSERT_EQ(shared.size(), whole.size());
  ASSERT_EQ(shared.size(), 4u + 7u + 10u);
  double worst = 0;
  for (std::size_t i = 0; i < shared.size(); ++i) {
    EXPECT_EQ(shared[i].user, whole[i].user);
    EXPECT_EQ(shared[i].item, whole[i].item);
    EXPECT_EQ(shared[i].adapter, whole[i].adapter);
    EXPECT_NEAR(shared[i].predicted, whole[i].predicted, 1e-5) << i;
    for (int d = 0; d < 5; ++d) EXPECT_NEAR(shared[i].probs[d], whole[i].probs[d], 1e-5) << i;
    worst = std::max(worst, std::fabs(shared[i].predicted - whole[i].predicted));
  }
  RecordProperty("max_abs_difference", std::to_string(worst));

  // One user alone gets the bits it gets among the others (its prefix group is its own).
  std::vector<UserItem> pairs;
  for (const auto& x : f.data.test_of(f.data.users[0])) pairs.push_back({0, x.item, x.rating});
  const auto alone = rate_items(*f.model, *f.tokenizer, f.data, f.memories, f.vectors, f.adapter_of_user, pairs, f.options(true));
  for (std::size_t i = 0; i < alone.size(); ++i) {
    EXPECT_EQ(alone[i].predicted, shared[i].predicted) << i;
    EXPECT_EQ(alone[i].probs, shared[i].probs) << i;
  }
}

}  // namespace
}  // namespace personas
