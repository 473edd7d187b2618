#include "train/sample_options.h"

#include <algorithm>

#include "train/rating_estimate.h"
#include "train/rating_tokens.h"

namespace personas {

int train_max_len(const TrainConfig& tc, int default_max_len, const Phi3Config& model) {
  return std::min<int>(tc.max_seq_len > 0 ? tc.max_seq_len : default_max_len,
                       static_cast<int>(model.max_position_embeddings));
}

SampleOptions prompt_sample_options(const TrainConfig& tc, int max_len, const Dataset& data) {
  SampleOptions so;
  so.style = tc.prompt_style;
  so.answer_with_reason = tc.answer == AnswerFormat::digit_reason;
  so.reason_words = tc.reason_words;
  so.retrieve_k = tc.retrieve_k;
  so.profile_words = tc.profile_words;
  so.traits = tc.traits;
  so.max_len = max_len;
  so.val_fraction = tc.val_fraction;
  if (tc.prompt_estimate) so.estimate_mean = training_mean(data);
  return so;
}

SampleOptions train_sample_options(const TrainConfig& tc, int max_len, const PromptEncoder& encoder,
                                   const Dataset& data) {
  SampleOptions so = prompt_sample_options(tc, max_len, data);
  if (tc.loss_on == LossOn::rating) so.answer_tokens = static_cast<int>(rating_tokens(encoder).prefix.size()) + 1;
  return so;
}

}  // namespace personas
