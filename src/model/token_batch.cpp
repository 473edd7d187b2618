#include "model/token_batch.h"

#include <algorithm>

#include "core/errors.h"

namespace personas {

TokenBatch TokenBatch::from_sequences(std::span<const std::vector<std::int32_t>> sequences,
                                      std::span<const int> answer_begin, std::int32_t pad_id, int pad_to) {
  PERSONAS_CHECK(answer_begin.empty() || answer_begin.size() == sequences.size(), data,
                 "token batch: {} answer starts for {} sequences", answer_begin.size(), sequences.size());
  TokenBatch b;
  b.batch = static_cast<int>(sequences.size());
  int longest = pad_to;
  for (const auto& s : sequences) longest = std::max(longest, static_cast<int>(s.size()));
  b.seq = std::max(longest, 1);
  b.ids.assign(static_cast<std::size_t>(b.batch) * static_cast<std::size_t>(b.seq), std::max(pad_id, 0));
  b.lengths.resize(static_cast<std::size_t>(b.batch));
  if (!answer_begin.empty()) b.targets.assign(b.ids.size(), -1);
  for (int r = 0; r < b.batch; ++r) {
    const auto& s = sequences[static_cast<std::size_t>(r)];
    const std::size_t base = static_cast<std::size_t>(r) * static_cast<std::size_t>(b.seq);
    std::copy(s.begin(), s.end(), b.ids.begin() + static_cast<std::ptrdiff_t>(base));
    b.lengths[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(s.size());
    if (!answer_begin.empty()) {
      const int begin = std::max(answer_begin[static_cast<std::size_t>(r)], 1);
      for (int t = begin - 1; t + 1 < static_cast<int>(s.size()); ++t)
        b.targets[base + static_cast<std::size_t>(t)] = s[static_cast<std::size_t>(t + 1)];
    }
  }
  return b;
}

std::int64_t TokenBatch::n_target_tokens() const {
  return std::count_if(targets.begin(), targets.end(), [](std::int32_t t) { return t >= 0; });
}

void TokenBatch::validate(std::int64_t vocab_size, int n_adapters) const {
  const std::size_t n = static_cast<std::size_t>(batch) * static_cast<std::size_t>(seq);
  PERSONAS_CHECK(batch >= 1 && seq >= 1, data, "token batch: batch {} and seq {} must be >= 1", batch, seq);
  PERSONAS_CHECK(ids.size() == n, data, "token batch: ids has {} entries, expected batch*seq = {}", ids.size(), n);
  PERSONAS_CHECK(lengths.size() == static_cast<std::size_t>(batch), data, "token batch: lengths has {} entries for {} rows",
                 lengths.size(), batch);
  PERSONAS_CHECK(targets.empty() || targets.size() == n, data, "token batch: targets has {} entries, expected {}",
                 targets.size(), n);
  PERSONAS_CHECK(adapters.empty() || adapters.size() == static_cast<std::size_t>(batch), data,
                 "token batch: adapters has {} entries for {} rows", adapters.size(), batch);
  for (int r = 0; r < batch; ++r) {
    const int len = lengths[static_cast<std::size_t>(r)];
    PERSONAS_CHECK(len >= 1 && len <= seq, data, "token batch: row {} length {} outside [1, {}]", r, len, seq);
    const int a = adapter_of(r);
    PERSONAS_CHECK(a >= -1 && a < n_adapters, data, "token batch: row {} uses adapter {} of {}", r, a, n_adapters);
    for (int t = 0; t < len; ++t) {
      const std::int32_t id = ids[static_cast<std::size_t>(r) * static_cast<std::size_t>(seq) + static_cast<std::size_t>(t)];
      PERSONAS_CHECK(id >= 0 && id < vocab_size, data, "token batch: row {} position {}: id {} outside vocab [0, {})", r,
                     t, id, vocab_size);
    }
    if (!targets.empty()) {
      for (int t = 0; t < seq; ++t) {
        const std::int32_t target =
            targets[static_cast<std::size_t>(r) * static_cast<std::size_t>(seq) + static_cast<std::size_t>(t)];
        PERSONAS_CHECK(target < vocab_size, data, "token batch: row {} position {}: target {} outside vocab", r, t, target);
        PERSONAS_CHECK(target < 0 || t < len, data, "token batch: row {} position {} is padding but has target {}", r, t,
                       target);
      }
    }
  }
}

}  // namespace personas
