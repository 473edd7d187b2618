#include "train/samples.h"
#include "train/rating_estimate.h"
#include "train/rating_tokens.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

#include "core/strings.h"

using namespace personas;

namespace {

// One token per byte of "system|user|" and of the answer: lengths are easy to reason about.
class ByteEncoder : public PromptEncoder {
 public:
  EncodedPrompt encode(const PromptParts& p) const override {
    EncodedPrompt e;
    for (char c : p.system + "|" + p.user + "|") e.ids.push_back(static_cast<unsigned char>(c));
    e.answer_begin = static_cast<int>(e.ids.size());
    for (char c : p.answer) e.ids.push_back(static_cast<unsigned char>(c));
    if (!p.answer.empty()) e.ids.push_back(0);  // an end token
    return e;
  }
  mutable int calls = 0;
};

// Four items: 0 and 1 Comedy (so similar), 2 Drama, 3 Comedy+Drama. One user
// who rated 0, 2, 1, 3 in that order (train), then 3 more in the test period.
struct Fixture {
  Dataset data;
  UserMemory memory;
  Fixture() {
    data.genre_names = {"Comedy", "Drama"};
    data.items = {{10, "Alpha", 1990, 1u, 4.0, 2}, {11, "Beta", 1991, 1u, 3.0, 3}, {12, "Gamma", 1970, 2u, 2.0, 1},
                  {13, "Delta", 1992, 3u, 5.0, 4}, {14, "Test Only", 1999, 1u, 0.0, 0}};
    User u;
    u.id = 42;
    u.first = 0;
    u.n_train = 4;
    u.n_test = 1;
    data.users = {u};
    data.interactions = {{0, 5, 1}, {2, 1, 2}, {1, 4, 3}, {3, 3, 4}, {4, 2, 5}};
    memory.user_id = 42;
    memory.activity = "I watch a lot.";
    memory.conformity = "I follow the crowd.";
    memory.diversity = "I like few genres.";
    memory.profile = "I love comedies and old films with strong characters and clever plots that surprise me.";
    memory.notes = {{0, 5, "I rated Alpha as 5 because it is hilarious."},
                    {2, 1, "I rated Gamma as 1 because it is slow and grim."},
                    {1, 4, "I rated Beta as 4 because it is funny enough."},
                    {3, 3, "I rated Delta as 3 because it mixes moods."}};
  }
};

std::string text_of(const Sample& s, bool answer) {
  std::string out;
  for (std::size_t i = answer ? static_cast<std::size_t>(s.answer_begin) : 0;
       i < (answer ? s.ids.size() : static_cast<std::size_t>(s.answer_begin)); ++i)
    if (s.ids[i] != 0) out += static_cast<char>(s.ids[i]);
  return out;
}

}  // namespace

TEST(Retrieval, OnlyPastNotesNeverTheTarget) {
  Fixture f;
  auto vectors = item_vectors_from_features(f.data);
  auto pos = note_positions(f.data.train_of(f.data.users[0]), f.memory.notes);
  EXPECT_EQ(pos, (std::vector<std::int32_t>{0, 1, 2, 3}));
  // Target Beta (position 2): Alpha (Comedy) is most similar and in the past.
  EXPECT_EQ(retrieve_notes(vectors, f.memory.notes, pos, 1, 2, 1), std::vector<int>{0});
  // Target Alpha at position 0: nothing is in the past.
  EXPECT_TRUE(retrieve_notes(vectors, f.memory.notes, pos, 0, 0, 3).empty());
  // Test item (before = n_train): every note is eligible; Comedy notes first, never Delta's own... here target 4.
  auto all = retrieve_notes(vectors, f.memory.notes, pos, 4, 4, 4);
  EXPECT_EQ(all.size(), 4u);
  EXPECT_EQ(f.memory.notes[static_cast<std::size_t>(all.back())].item, 2);  // Drama is least similar
  // The target's own note is excluded even when it is in the past.
  auto r = retrieve_notes(vectors, f.memory.notes, pos, 1, 4, 4);
  for (int i : r) EXPECT_NE(f.memory.notes[static_cast<std::size_t>(i)].item, 1);
}

TEST(Samples, OnePerTrainingInteractionWithAnswerOnlyLoss) {
  Fixture f;
  ByteEncoder enc;
  SampleOptions o;
  o.style = PromptStyle::compact;
  o.val_fraction = 0.25;
  SampleStats stats;
  auto samples = build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, o, &stats);
  ASSERT_EQ(samples.size(), 4u);  // never the test-period interaction
  EXPECT_EQ(stats.n_train, 3);
  EXPECT_EQ(stats.n_validation, 1);
  EXPECT_TRUE(samples[3].validation);  // the latest slice
  EXPECT_FALSE(samples[2].validation);
  for (const auto& s : samples) {
    EXPECT_NE(s.item, 4);
    EXPECT_EQ(text_of(s, true), std::to_string(static_cast<int>(s.rating)));
    EXPECT_EQ(s.n_answer_tokens(), 2);  // digit + end
    // The test-period item never appears in a training prompt.
    EXPECT_EQ(text_of(s, false).find("Test Only"), std::string::npos);
  }
  // Sample of Beta (position 2) retrieves Alpha's note and not its own.
  const std::string beta = text_of(samples[2], false);
  EXPECT_NE(beta.find("I rated Alpha"), std::string::npos);
  EXPECT_EQ(beta.find("I rated Beta"), std::string::npos);
  // Leave-one-out average: Beta had mean 3.0 over 3 ratings incl. this 4 -> (9-4)/2 = 2.5 from 2.
  EXPECT_NE(beta.find("average rating 2.5 from 2 ratings"), std::string::npos) << beta;
  // Gamma's only rating is this user's: no average is shown.
  EXPECT_NE(text_of(samples[1], false).find("no ratings yet"), std::string::npos);
  // The first sample has no past, so no memory.
  EXPECT_EQ(text_of(samples[0], false).find("Memory:"), std::string::npos);
}

TEST(Samples, DigitPlusReason) {
  Fixture f;
  ByteEncoder enc;
  SampleOptions o;
  o.answer_with_reason = true;
  o.reason_words = 3;
  auto samples = build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, o);
  EXPECT_EQ(text_of(samples[1], true), "1 because it is slow.");
  EXPECT_EQ(render_answer(4, nullptr, true, 5), "4");
}

TEST(Samples, ProfileShortenedFirstThenMemoriesThenDropped) {
  Fixture f;
  ByteEncoder enc;
  SampleOptions o;
  o.style = PromptStyle::paper;
  o.val_fraction = 0;
  auto full = build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, o);
  // A budget a little under the longest sample: the profile must be cut but memories stay.
  std::size_t longest = 0;
  for (const auto& s : full) longest = std::max(longest, s.ids.size());
  o.max_len = static_cast<int>(longest) - 20;
  SampleStats stats;
  auto cut = build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, o, &stats);
  ASSERT_EQ(cut.size(), full.size());
  EXPECT_GE(stats.n_shortened, 1);
  for (std::size_t i = 0; i < cut.size(); ++i) {
    EXPECT_LE(cut[i].ids.size(), static_cast<std::size_t>(o.max_len));
    if (cut[i].shortened) {
      EXPECT_EQ(text_of(cut[i], false).find("surprise me"), std::string::npos);  // profile tail gone
    }
  }
  EXPECT_NE(text_of(cut[3], false).find("YOUR MEMORIES"), std::string::npos);
  // A budget too small for anything: every sample is dropped and counted.
  o.max_len = 10;
  auto none = build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, o, &stats);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(stats.n_dropped, 4);
}

TEST(Samples, UsersWithoutMemoryAreCountedAndSkipped) {
  Fixture f;
  ByteEncoder enc;
  SampleStats stats;
  auto samples = build_training_samples(f.data, {}, item_vectors_from_features(f.data), enc, {}, &stats);
  EXPECT_TRUE(samples.empty());
  EXPECT_EQ(stats.n_users_without_memory, 1);
}

TEST(Samples, EvalPromptMatchesTrainingLayoutWithoutAnswer) {
  Fixture f;
  ByteEncoder enc;
  SampleOptions o;
  auto e = build_eval_prompt(f.data, f.data.users[0], f.memory, item_vectors_from_features(f.data), enc, o, 4);
  EXPECT_EQ(e.answer_begin, static_cast<int>(e.ids.size()));
  std::string text;
  for (auto id : e.ids) text += static_cast<char>(id);
  EXPECT_NE(text.find("Test Only (1999)"), std::string::npos);
  EXPECT_NE(text.find("RATING:"), std::string::npos);
  EXPECT_NE(text.find("YOUR MEMORIES"), std::string::npos);
}

TEST(Samples, PromptEstimateIsLeaveOneOutInTrainingAndFullInEvaluation) {
  Fixture f;
  ByteEncoder enc;
  SampleOptions o;
  o.style = PromptStyle::compact;
  const auto plain = build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, o);
  for (const auto& s : plain) EXPECT_EQ(text_of(s, false).find("my expected rating"), std::string::npos);

  o.estimate_mean = 3.5;
  const auto samples = build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, o);
  ASSERT_EQ(samples.size(), 4u);
  UserRatingEstimate estimate(f.data, f.data.users[0], 3.5);
  for (std::int32_t t = 0; t < 4; ++t) {
    const std::string want = fmt::format("; my expected rating {:.1f}\n", estimate.leaving_out(t));
    EXPECT_NE(text_of(samples[static_cast<std::size_t>(t)], false).find(want), std::string::npos) << t;
  }
  auto e = build_eval_prompt(f.data, f.data.users[0], f.memory, item_vectors_from_features(f.data), enc, o, 4);
  std::string text(e.ids.begin(), e.ids.end());
  EXPECT_NE(text.find(fmt::format("no ratings yet; my expected rating {:.1f}\n", estimate.for_item(4))),
            std::string::npos)
      << text;
}

TEST(Samples, ValidationCount) {
  EXPECT_EQ(validation_count(100, 0.1), 10);
  EXPECT_EQ(validation_count(3, 0.1), 1);
  EXPECT_EQ(validation_count(1, 0.5), 0);
  EXPECT_EQ(validation_count(10, 0.0), 0);
}

TEST(Samples, ProfileCapAndTraitsOff) {
  Fixture f;
  ByteEncoder enc;
  SampleOptions o;
  o.style = PromptStyle::compact;
  o.profile_words = 3;
  o.traits = false;
  auto samples = build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, o, nullptr);
  ASSERT_FALSE(samples.empty());
  const std::string prompt = text_of(samples[0], false);
  EXPECT_EQ(prompt.rfind("I love comedies|", 0), 0u) << prompt;  // the first 3 words, no trait sentence
  EXPECT_EQ(prompt.find("I watch a lot."), std::string::npos);
  EXPECT_FALSE(samples[0].shortened);  // a configured cap is not a shortening
  o.traits = true;
  o.profile_words = 0;
  const std::string full = text_of(
      build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, o, nullptr)[0], false);
  EXPECT_NE(full.find("I watch a lot. I follow the crowd. I like few genres. I love comedies and old films"),
            std::string::npos)
      << full;
}

// train.loss_on = rating: the answer keeps the tokens up to the rating digit
// (rating_tokens' prefix + 1), so the loss falls on the digit alone.
TEST(Samples, LossOnTheRatingTokenOnly) {
  Fixture f;
  ByteEncoder enc;
  const RatingTokens tokens = rating_tokens(enc);
  EXPECT_TRUE(tokens.prefix.empty());
  EXPECT_EQ(tokens.digits[2], static_cast<std::int32_t>('3'));
  SampleOptions o;
  o.answer_tokens = static_cast<int>(tokens.prefix.size()) + 1;
  const auto full = build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, {});
  const auto cut = build_training_samples(f.data, {f.memory}, item_vectors_from_features(f.data), enc, o);
  ASSERT_EQ(cut.size(), full.size());
  for (std::size_t i = 0; i < cut.size(); ++i) {
    EXPECT_EQ(cut[i].n_answer_tokens(), 1);
    EXPECT_EQ(cut[i].ids.back(), tokens.digits[static_cast<std::size_t>(cut[i].rating) - 1]);
    EXPECT_EQ(cut[i].answer_begin, full[i].answer_begin);
    EXPECT_TRUE(std::equal(cut[i].ids.begin(), cut[i].ids.end(), full[i].ids.begin()));  // a prefix of the full sample
  }
}

namespace personas {
namespace {

// first_words reads words as `istream >> word` does: runs of non-space
// bytes, any ASCII white space between them, joined by one space.
TEST(Prompt, FirstWordsKeepsTheOpeningWords) {
  EXPECT_EQ(first_words("  I have rated\t12 movies.\nMy average", 4), "I have rated 12");
  EXPECT_EQ(first_words("one two", 5), "one two");
  EXPECT_EQ(first_words("one two", 0), "");
  EXPECT_EQ(first_words(" \n\t ", 3), "");
  EXPECT_EQ(first_words("keep  it\n whole ", -1), "keep  it\n whole ");
  EXPECT_EQ(first_words("Ünïcödé → ok", 2), "Ünïcödé →");
}

}  // namespace
}  // namespace personas
