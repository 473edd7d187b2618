// The agents render their prompts exactly as training did: the [train]
// prompt settings, the same length limit and the same bias estimate.
#include "eval/agent_predictor.h"

#include <gtest/gtest.h>

#include "train/rating_estimate.h"

using namespace personas;

TEST(AgentOptions, PromptsAreTheTrainingOnes) {
  Dataset data;
  data.items = {{1, "A", 1990, 0u, 4.0, 3}, {2, "B", 1991, 0u, 2.0, 1}};
  AgentPredictorInputs in;
  in.default_max_len = 300;
  in.train.prompt_style = PromptStyle::compact;
  in.train.retrieve_k = 2;
  in.train.profile_words = 30;
  in.train.traits = false;
  in.train.prompt_estimate = true;
  Phi3Config mc;
  mc.max_position_embeddings = 256;

  const auto persona = agent_scoring_options(in, "persona", mc, data);
  EXPECT_EQ(persona.sample.style, PromptStyle::compact);
  EXPECT_EQ(persona.sample.retrieve_k, 2);
  EXPECT_EQ(persona.sample.profile_words, 30);
  EXPECT_FALSE(persona.sample.traits);
  EXPECT_EQ(persona.sample.max_len, 256);  // train.max_seq_len 0 -> model.max_seq, capped by the context
  ASSERT_TRUE(persona.sample.estimate_mean.has_value());
  EXPECT_DOUBLE_EQ(*persona.sample.estimate_mean, training_mean(data));
  EXPECT_DOUBLE_EQ(*persona.sample.estimate_mean, 3.5);

  in.eval.zero_shot_profile_only = true;
  EXPECT_EQ(agent_scoring_options(in, "zero_shot", mc, data).sample.retrieve_k, 0);
  in.train.prompt_estimate = false;
  EXPECT_FALSE(agent_scoring_options(in, "global", mc, data).sample.estimate_mean.has_value());
}
