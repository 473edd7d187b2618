// A batch of right-padded token sequences for the transformer.
//
// Row b holds lengths[b] valid tokens at ids[b*seq + 0 .. lengths[b]-1]; the
// rest is padding (any id; it is never attended to). targets[b*seq + t] is the
// token that position t must predict (already shifted, i.e. ids[b*seq+t+1] for
// answer tokens) or -1 where no loss is taken (prompt, padding): the loss is
// over answer tokens only. adapters[b] picks row b's LoRA adapter (index into
// the model's adapters; -1 = base model only); empty = adapter 0 for all rows.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace personas {

struct TokenBatch {
  int batch = 0;
  int seq = 0;
  std::vector<std::int32_t> ids;      // [batch*seq]
  std::vector<std::int32_t> lengths;  // [batch]
  std::vector<std::int32_t> targets;  // [batch*seq] or empty (no loss)
  std::vector<int> adapters;          // [batch] or empty

  // Builds a batch from sequences; loss on tokens at index >= answer_begin[b]
  // (the target of position t is sequence[t+1] when t+1 >= answer_begin[b]).
  // answer_begin empty = no targets. seq = longest sequence (or pad_to if larger).
  static TokenBatch from_sequences(std::span<const std::vector<std::int32_t>> sequences,
                                   std::span<const int> answer_begin, std::int32_t pad_id, int pad_to = 0);
  std::int64_t n_target_tokens() const;
  int adapter_of(int row) const { return adapters.empty() ? 0 : adapters[static_cast<std::size_t>(row)]; }
  // Throws ErrorKind::data naming the field when sizes or values disagree.
  void validate(std::int64_t vocab_size, int n_adapters) const;
};

}  // namespace personas
