#include "train/rating_tokens.h"

#include "core/errors.h"

namespace personas {

RatingTokens rating_tokens(const PromptEncoder& encoder) {
  std::array<std::vector<std::int32_t>, 5> answers;
  for (int d = 1; d <= 5; ++d) {
    PromptParts parts{"persona", "rate the movie", std::to_string(d)};
    auto encoded = encoder.encode(parts);
    answers[d - 1].assign(encoded.ids.begin() + encoded.answer_begin, encoded.ids.end());
  }
  // Common prefix of the five answers (e.g. a lone "▁" piece), then one token that differs.
  std::size_t common = 0;
  while (true) {
    bool same = true;
    for (const auto& a : answers) same = same && common < a.size() && a[common] == answers[0][common];
    if (!same) break;
    ++common;
  }
  RatingTokens out;
  out.prefix.assign(answers[0].begin(), answers[0].begin() + static_cast<std::ptrdiff_t>(common));
  for (int d = 0; d < 5; ++d) {
    PERSONAS_CHECK(common < answers[d].size(), data,
                   "the tokenizer renders the answer '{}' without a token of its own; cannot score ratings", d + 1);
    out.digits[d] = answers[d][common];
  }
  for (int a = 0; a < 5; ++a)
    for (int b = a + 1; b < 5; ++b)
      PERSONAS_CHECK(out.digits[a] != out.digits[b], data,
                     "ratings {} and {} start with the same token {}; cannot score ratings", a + 1, b + 1,
                     out.digits[a]);
  return out;
}

}  // namespace personas
