// The endpoint agent: the rating read from an answer's top log-probabilities
// (or its text), and a whole chunk rated against a loopback fake of an
// OpenAI-compatible server that checks what was asked.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <mutex>

#include "agent_fixture.h"
#include "core/errors.h"
#include "eval/endpoint_agent.h"
#include "support/fake_openai_server.h"

namespace personas {
namespace {

ChatResult answer_with(std::string text, std::vector<std::vector<TokenLogprob>> top = {}) {
  ChatResult r;
  r.text = std::move(text);
  r.top_logprobs = std::move(top);
  return r;
}

TEST(EndpointRating, ExpectedDigitUnderTheTopLogprobsRenormalisedOverTheDigits) {
  // 0.5 on "4", 0.2 on " 5", 0.1 on "3", 0.2 on a word: over the digits 5/8, 2/8, 1/8.
  const auto r = rating_from_answer(answer_with(
      "4", {{{"4", std::log(0.5)}, {" 5", std::log(0.2)}, {"The", std::log(0.2)}, {"3", std::log(0.1)}}}));
  EXPECT_FALSE(r.unrelated);
  EXPECT_NEAR(r.predicted, (4 * 5 + 5 * 2 + 3 * 1) / 8.0, 1e-9);
  EXPECT_EQ(r.argmax, 4);
  EXPECT_NEAR(r.probs[3], 5 / 8.0, 1e-6);
  EXPECT_NEAR(r.probs[0], 0.0, 1e-12);
}

TEST(EndpointRating, TheFirstPositionOfferingADigitCountsAndSpellingsAdd) {
  // Position 0 offers no digit (the model opens with a word); at position 1,
  // "2" and " 2" are the same rating.
  const auto r = rating_from_answer(answer_with(
      "Rating: 2", {{{"Rating", -0.1}, {"I", -2.5}},
                    {{"2", std::log(0.3)}, {" 2", std::log(0.3)}, {"1", std::log(0.4)}}}));
  EXPECT_NEAR(r.probs[1], 0.6, 1e-6);
  EXPECT_NEAR(r.probs[0], 0.4, 1e-6);
  EXPECT_NEAR(r.predicted, 0.4 * 1 + 0.6 * 2, 1e-9);
  EXPECT_EQ(r.argmax, 2);
}

TEST(EndpointRating, WithoutLogprobsTheFirstDigitOfTheTextAndElseUnrelated) {
  auto r = rating_from_answer(answer_with("I would give it 4 stars out of 5"));
  EXPECT_FALSE(r.unrelated);
  EXPECT_EQ(r.predicted, 4);
  // Log-probabilities that offer no digit anywhere: the text decides.
  r = rating_from_answer(answer_with("maybe 3", {{{"maybe", -0.1}}}));
  EXPECT_EQ(r.predicted, 3);
  r = rating_from_answer(answer_with("I cannot rate this movie."));
  EXPECT_TRUE(r.unrelated);
  EXPECT_EQ(r.predicted, 0);
}

// A server answering every prompt with the same distribution over the digits.
testing::FakeResponse logprob_answer(const testing::FakeRequest& request, std::mutex& mutex,
                                     std::vector<nlohmann::json>& bodies) {
  {
    std::lock_guard lock(mutex);
    bodies.push_back(nlohmann::json::parse(request.body));
  }
  nlohmann::json body = nlohmann::json::parse(testing::chat_completion_body("5"));
  body["choices"][0]["logprobs"] = {
      {"content",
       {{{"token", "5"}, {"logprob", std::log(0.75)},
         {"top_logprobs", {{{"token", "5"}, {"logprob", std::log(0.75)}}, {{"token", "4"}, {"logprob", std::log(0.25)}}}}}}}};
  testing::FakeResponse response;
  response.body = body.dump();
  return response;
}

TEST(EndpointRater, RatesEveryPairWithTheLocalAgentsPromptsAndAsksForLogprobs) {
  AgentFixture f;
  std::mutex mutex;
  std::vector<nlohmann::json> bodies;
  testing::FakeOpenAiServer server([&](const testing::FakeRequest& r) { return logprob_answer(r, mutex, bodies); });
  EndpointAgentOptions o;
  o.http.base_url = server.base_url();
  o.http.max_in_flight = 3;
  o.model = "big-frozen-llm";
  o.top_logprobs = 5;
  EndpointRater rater(o, *f.tokenizer);
  const auto memory_of = index_memories(f.memories);
  const auto pairs = test_item_pairs(f.data, memory_of, {0, 1, 2}, 0);
  ASSERT_EQ(pairs.size(), 4u + 7u + 10u);
  const auto sample = f.options(false).sample;
  const auto ratings = rater.rate(f.data, memory_of, f.vectors, pairs, sample);
  ASSERT_EQ(ratings.size(), pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_EQ(ratings[i].user, pairs[i].user);
    EXPECT_EQ(ratings[i].item, pairs[i].item);
    EXPECT_EQ(ratings[i].truth, pairs[i].truth);
    EXPECT_EQ(ratings[i].user_id, f.data.users[static_cast<std::size_t>(pairs[i].user)].id);
    EXPECT_NEAR(ratings[i].predicted, 4.75, 1e-9);
  }
  EXPECT_EQ(rater.usage().calls, static_cast<std::int64_t>(pairs.size()));
  ASSERT_EQ(bodies.size(), pairs.size());
  // What was sent: the model, the log-probability request, and the local
  // agents' prompt text (the item's title in the user turn, the profile in the system turn).
  bool saw_first_item = false;
  const auto& first_user = f.memories[0];
  const auto& first_item = f.data.items[static_cast<std::size_t>(pairs[0].item)];
  for (const auto& b : bodies) {
    EXPECT_EQ(b["model"], "big-frozen-llm");
    EXPECT_EQ(b["logprobs"], true);
    EXPECT_EQ(b["top_logprobs"], 5);
    EXPECT_EQ(b["max_tokens"], 4);
    ASSERT_EQ(b["messages"].size(), 2u);
    EXPECT_EQ(b["messages"][0]["role"], "system");
    const std::string system = b["messages"][0]["content"];
    const std::string user = b["messages"][1]["content"];
    if (system.find(first_user.profile) != std::string::npos && user.find(first_item.title + " (") != std::string::npos)
      saw_first_item = true;
  }
  EXPECT_TRUE(saw_first_item);
}

TEST(EndpointRater, AFailedRequestIsAProviderErrorNamingTheUserAndItem) {
  AgentFixture f;
  testing::FakeOpenAiServer server([](const testing::FakeRequest&) {
    testing::FakeResponse bad;
    bad.status = 400;
    bad.body = "{}";
    return bad;
  });
  EndpointAgentOptions o;
  o.http.base_url = server.base_url();
  o.http.max_attempts = 1;
  o.model = "m";
  EndpointRater rater(o, *f.tokenizer);
  const auto memory_of = index_memories(f.memories);
  const auto pairs = test_item_pairs(f.data, memory_of, {0}, 1);
  try {
    rater.rate(f.data, memory_of, f.vectors, pairs, f.options(false).sample);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::provider);
    EXPECT_NE(std::string(e.what()).find("user 500 item"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace personas
