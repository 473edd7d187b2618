// Next-token choice from a logits row: greedy (temperature 0), temperature,
// top-k, top-p (nucleus), with a seeded RNG (same seed, same text).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace personas {

struct SamplingOptions {
  float temperature = 0.0f;  // 0 = greedy (argmax, lowest id on ties)
  int top_k = 0;             // 0 = no limit
  float top_p = 1.0f;        // 1 = no nucleus cut
  std::uint64_t seed = 0;
  // > 1: the logit of every token this sampler chose before is divided by it
  // (multiplied when negative), as transformers' repetition_penalty does over
  // the generated tokens; 1 = off. Breaks the loops of small models.
  float repetition_penalty = 1.0f;
};

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);
  std::int32_t next(std::span<const float> logits);

 private:
  std::int32_t choose(std::span<const float> logits);

  SamplingOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::int32_t> chosen_;  // repetition_penalty: every token chosen so far, sorted, once each
  std::vector<float> penalized_;
};

std::int32_t argmax(std::span<const float> values);

}  // namespace personas
