// The sample-building settings of the [train] section for a given model, in
// one place for `personas train` and `personas samples`, so the statistics of
// the samples stage describe exactly the samples train would build.
#pragma once

#include "model/phi3_config.h"
#include "train/samples.h"
#include "train/train_config.h"

namespace personas {

// train.max_seq_len (or model.max_seq when it is 0), capped by the model's context.
int train_max_len(const TrainConfig& tc, int default_max_len, const Phi3Config& model);

// The prompt settings of [train] (style, profile, traits, retrieval, answer
// format, estimate): what evaluation prompts share with training samples.
SampleOptions prompt_sample_options(const TrainConfig& tc, int max_len, const Dataset& data);

// SampleOptions from [train]; loss_on = rating keeps the answer up to the rating digit;
// prompt_estimate takes the training mean of `data`.
SampleOptions train_sample_options(const TrainConfig& tc, int max_len, const PromptEncoder& encoder,
                                   const Dataset& data);

}  // namespace personas
