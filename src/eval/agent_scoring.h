// Agents rate held-out items: base model + the user's persona adapter + the
// user's profile + memories retrieved from the training period, rendered with
// exactly the training prompt (train/samples.h build_eval_prompt).
//
// Modes (PAPER.md "OURS" vs the paper's way):
//  * expected: softmax over the logits of the rating tokens "1".."5" at the
//    answer position -> expected rating and arg-max; never "unrelated".
//  * generate: the paper's way: a few sampled tokens (temperature 0.3), the
//    first digit 1-5 in the text is the rating; no digit = unrelated (URR).
// Batches mix users of different personas: each row uses its own adapter
// (segment-wise LoRA), so one pass serves every persona. In expected mode a
// user's items share their prompts' common prefix (the system turn: persona
// and profile): its KV cache is computed once per user and adapter and every
// item is scored as a continuation of it (prefix_sharing; the same numbers as
// whole prompts to float rounding, and independent of the other users).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/dataset.h"
#include "distill/memories.h"
#include "eval/eval_config.h"
#include "model/lora_model.h"
#include "model/tokenizer.h"
#include "train/rating_tokens.h"
#include "train/retrieval.h"
#include "train/samples.h"

namespace personas {

struct AgentScoringOptions {
  AgentMode mode = AgentMode::expected;
  int batch_rows = 16;            // prompts per forward pass (expected mode), sequences decoded together (generate)
  // expected mode: a user's items share the KV cache of their common prompt
  // prefix (system turn: persona, profile), computed once per user and adapter
  // (LoraModel::prefill / score_suffixes); false scores every prompt whole.
  bool prefix_sharing = true;
  int generate_tokens = 4;        // generate mode: new tokens
  float temperature = 0.3f;       // generate mode
  std::uint64_t seed = 0;         // generate mode: per (user, item) streams derive from it
  int max_items_per_user = 0;     // 0 = every test item
  bool log_progress = true;       // progress lines per call (off where the caller logs its own)
  SampleOptions sample;           // prompt style, retrieval, max length (as in training)
};

struct AgentRating {
  std::int64_t user_id = 0;
  std::int32_t user = 0;           // index into Dataset::users (this rank's block)
  std::int32_t item = 0;
  float truth = 0;
  double predicted = 0;            // expected rating (expected mode) or the parsed digit
  int argmax = 0;                  // most probable digit (expected mode) or the parsed digit
  bool unrelated = false;          // generate mode: no digit in the answer
  int adapter = -1;                // adapter row used (-1 = base model)
  std::array<float, 5> probs{};    // expected mode: P(1..5)
  std::string text;                // generate mode: the raw answer
};


// One (user, item) to rate: user = index into Dataset::users, item = index into
// Dataset::items, truth = the known rating (0 when none).
struct UserItem {
  std::int32_t user = 0;
  std::int32_t item = 0;
  float truth = 0;
};

// Each user's memories by user id (pointers into the vector it was made from).
using MemoryOfUser = std::unordered_map<std::int64_t, const UserMemory*>;
MemoryOfUser index_memories(const std::vector<UserMemory>& memories);
// The memories of the user a pair names; a user without any is a data error
// naming the user (every rater prompts from them).
const UserMemory& memories_of_pair(const Dataset& data, const MemoryOfUser& memory_of, const UserItem& pair);

// Rates the given pairs (every user must have memories).
std::vector<AgentRating> rate_items(LoraModel& model, const Tokenizer& tokenizer, const Dataset& data,
                                    const std::vector<UserMemory>& memories, const ItemVectors& vectors,
                                    const std::vector<int>& adapter_of_user, const std::vector<UserItem>& pairs,
                                    const AgentScoringOptions& options);
// The same with the memories indexed once by the caller (a caller that rates
// many small chunks of users, as the resumable eval does).
std::vector<AgentRating> rate_items(LoraModel& model, const Tokenizer& tokenizer, const Dataset& data,
                                    const MemoryOfUser& memory_of, const ItemVectors& vectors,
                                    const std::vector<int>& adapter_of_user, const std::vector<UserItem>& pairs,
                                    const AgentScoringOptions& options);

// The test items of the given users (indices into Dataset::users), at most
// `max_items_per_user` each (0 = all); users without memories are left out
// and counted in *n_skipped_users.
std::vector<UserItem> test_item_pairs(const Dataset& data, const MemoryOfUser& memory_of,
                                      const std::vector<std::int32_t>& users, int max_items_per_user,
                                      std::int64_t* n_skipped_users = nullptr);

// Rates this rank's users' test items. adapter_of_user[u] is the adapter index
// of Dataset::users[u] in `model` (-1 = base model). Users without memories
// are skipped (counted in *n_skipped_users).
std::vector<AgentRating> rate_test_items(LoraModel& model, const Tokenizer& tokenizer, const Dataset& data,
                                         const std::vector<UserMemory>& memories, const ItemVectors& vectors,
                                         const std::vector<int>& adapter_of_user, const AgentScoringOptions& options,
                                         std::int64_t* n_skipped_users = nullptr);

// The first digit 1-5 in generated text, or 0 when there is none.
int parse_rating_digit(const std::string& text);

}  // namespace personas
