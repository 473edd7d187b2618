// The text of one RAFT prompt (docs/PAPER.md stage 3), before the chat
// template: a system part (who the user is), a user part (memories, task,
// the item) and, for training, the answer.
//
// Styles:
//  * paper:   the paper's sections: PERSONA (traits + profile), YOUR MEMORIES
//             (retrieved notes), TASK, MOVIE (title, year, genres, historical
//             average), then "RATING:".
//  * compact: the same facts on a few short lines, for models with a small
//             context (the quickstart model).
// The paper's SUMMARY section (a synopsis) is left out: our data has none.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "distill/memories.h"
#include "train/train_config.h"  // PromptStyle

namespace personas {


struct PromptParts {
  std::string system;
  std::string user;
  std::string answer;  // empty for evaluation prompts
};

// The item as shown to the model; `average` / `count` are the historical
// average and number of ratings (training period; see samples.h for the
// leave-one-out used on training samples).
struct ItemLine {
  const Item* item = nullptr;
  double average = 0.0;
  std::int32_t count = 0;
  std::optional<double> estimate;  // the user + item estimate (train.prompt_estimate, rating_estimate.h)
};

struct PromptInputs {
  const Dataset* data = nullptr;
  const UserMemory* memory = nullptr;
  ItemLine target;
  std::vector<const ItemNote*> retrieved;  // best first
  int profile_words = -1;                  // -1 = whole profile; else the first N words
  bool traits = true;                      // the activity/conformity/diversity sentences
};

PromptParts render_prompt(PromptStyle style, const PromptInputs& in);

// The answer text: "4", or "4 because <reason>" with at most `reason_words`
// words of the reason taken from the user's note about the item (the text
// after "because", else the whole note).
std::string render_answer(int rating, const ItemNote* note, bool with_reason, int reason_words);

// "Toy Story (1995); genres: Animation, Children's, Comedy; average rating 3.9 from 452 ratings"
// and, with an estimate, "; my expected rating 4.2".
std::string describe_item(const Dataset& data, const ItemLine& line);
// Genre names of an item, ", " separated ("unknown" when none).
std::string genre_list(const Dataset& data, const Item& item);
// The first `n_words` words of `text` (all of it when it has fewer).
std::string first_words(const std::string& text, int n_words);

}  // namespace personas
