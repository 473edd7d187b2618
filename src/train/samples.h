// RAFT samples: one per training-period interaction (stage 3 of
// docs/PAPER.md), tokenised with the model's chat template, with the loss on
// the answer tokens only. The same builder renders evaluation prompts for
// test items (without an answer), so training and evaluation see exactly the
// same prompt layout.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "distill/memories.h"
#include "train/prompt.h"
#include "train/retrieval.h"

namespace personas {

class Tokenizer;

// Prompt text -> token ids. ids = the whole sequence; tokens at index >=
// answer_begin are the answer (answer_begin == ids.size() when there is none).
struct EncodedPrompt {
  std::vector<std::int32_t> ids;
  int answer_begin = 0;
};

class PromptEncoder {
 public:
  virtual ~PromptEncoder() = default;
  // With parts.answer empty: the prompt up to and including the generation
  // prompt (the model's answer comes next).
  virtual EncodedPrompt encode(const PromptParts& parts) const = 0;
};

// The model's own chat template (model/tokenizer.h): the prompt is
// system + user rendered with add_generation_prompt; the answer is the
// assistant turn, closed as the template closes it (<|end|> for Phi-3), so
// the model also learns to stop.
class ChatTemplateEncoder : public PromptEncoder {
 public:
  explicit ChatTemplateEncoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  EncodedPrompt encode(const PromptParts& parts) const override;

 private:
  const Tokenizer& tokenizer_;
};

struct SampleOptions {
  PromptStyle style = PromptStyle::paper;
  bool answer_with_reason = false;
  int reason_words = 24;
  int retrieve_k = 1;
  int profile_words = 0;        // cap on the profile's words (0 = all)
  bool traits = true;           // the trait sentences in the prompt
  int max_len = 4096;           // tokens
  double val_fraction = 0.1;    // latest slice of each user's training period
  // > 0: keep only this many answer tokens (the loss falls on them alone), e.g.
  // the tokens up to the rating digit (train.loss_on = rating); 0 = all.
  int answer_tokens = 0;
  // Set: each item line also states the user + item bias estimate
  // (train.prompt_estimate; train/rating_estimate.h) around this mean, the
  // data set's training_mean(); unset: no estimate.
  std::optional<double> estimate_mean;
};

struct Sample {
  std::int32_t user = 0;        // index into Dataset::users (this rank's block)
  std::int64_t user_id = 0;
  std::int32_t item = 0;
  std::int32_t position = 0;    // index within the user's training interactions
  float rating = 0;
  bool validation = false;
  bool shortened = false;       // the profile was cut or memories dropped to fit max_len
  std::vector<std::int32_t> ids;
  int answer_begin = 0;
  std::int64_t n_answer_tokens() const { return static_cast<std::int64_t>(ids.size()) - answer_begin; }
};

struct SampleStats {
  std::int64_t n_train = 0;
  std::int64_t n_validation = 0;
  std::int64_t n_shortened = 0;         // fit only after cutting the profile (then memories)
  std::int64_t n_dropped = 0;           // too long even with no profile and no memories
  std::int64_t n_users_without_memory = 0;  // users with no distillation output: no samples
  std::int64_t n_tokens = 0;
};

// Number of validation interactions of a user with n_train training ones:
// round(val_fraction * n_train), at least 1 when the fraction is > 0 and n_train >= 2.
int validation_count(int n_train, double val_fraction);

// The samples of one user (data.users[u]) with its memory, appended to `out`
// in training order; `stats` counts them (and the dropped ones) on top of what
// it holds. build_training_samples calls it for every user; the streaming
// `personas samples` stage calls it user by user and keeps only statistics.
void append_user_samples(const Dataset& data, std::size_t u, const UserMemory& memory, const ItemVectors& vectors,
                         const PromptEncoder& encoder, const SampleOptions& options, std::vector<Sample>& out,
                         SampleStats& stats);

// Samples of every user of this rank's block that has memories (matched by user id).
std::vector<Sample> build_training_samples(const Dataset& data, const std::vector<UserMemory>& memories,
                                           const ItemVectors& vectors, const PromptEncoder& encoder,
                                           const SampleOptions& options, SampleStats* stats = nullptr);

// The prompt for one item of a user, ending where the model answers: used by
// evaluation for test items (all training notes are in the past, so all are
// eligible for retrieval) with the plain training-period item average.
// `shortened` reports whether the profile or memories had to be cut.
EncodedPrompt build_eval_prompt(const Dataset& data, const User& user, const UserMemory& memory,
                                const ItemVectors& vectors, const PromptEncoder& encoder,
                                const SampleOptions& options, std::int32_t item, bool* shortened = nullptr);

}  // namespace personas
