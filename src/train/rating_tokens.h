// Where the rating sits in a trained answer: the tokens before the digit and
// the five digit tokens. Training can put its loss on that token alone
// (train.loss_on = rating) and expected-mode scoring reads P(1..5) there.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "train/samples.h"

namespace personas {

// The token sequence that precedes the digit in an answer, and the five digit
// tokens, as the encoder renders "1".."5" answers. ErrorKind::data when the
// digits do not get distinct tokens.
struct RatingTokens {
  std::vector<std::int32_t> prefix;
  std::array<std::int32_t, 5> digits{};
};
RatingTokens rating_tokens(const PromptEncoder& encoder);

}  // namespace personas
