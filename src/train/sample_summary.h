// Statistics of RAFT samples without the samples: what `personas samples`
// accumulates user by user (memory independent of the number of users) and
// writes to RUN/samples/summary.json. Every figure is an integer count, so the
// sum over ranks is exact and the summary is the same for any rank count.
// docs/training.md ("Sample statistics") describes the fields.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>
#include <vector>

#include "comm/comm.h"
#include "train/samples.h"

namespace personas {

// Counts of one persona's users and samples (persona -1: users without one).
struct PersonaSampleCounts {
  std::int64_t users = 0;
  std::int64_t users_without_memory = 0;
  std::int64_t train_samples = 0;
  std::int64_t validation_samples = 0;
  std::int64_t train_tokens = 0;
  std::int64_t validation_tokens = 0;
  std::int64_t answer_tokens = 0;     // tokens the loss falls on, training + validation
  std::int64_t shortened = 0;         // fit after cutting the profile (then memories)
  std::int64_t dropped = 0;           // too long even without profile and memories
  static constexpr std::size_t kFields = 9;
  void add_to(std::int64_t* out) const;
  void take_from(const std::int64_t* in);
};

class SampleSummary {
 public:
  // Length histogram in bins of `bin_width` tokens: [1, w], [w+1, 2w], ... up to max_len.
  explicit SampleSummary(int max_len, int bin_width = 32);

  // One user of `persona` (-1 = none) and the samples built for it (`dropped`
  // = the samples too long to keep). A user without memory has no samples.
  void add_user(std::int32_t persona, bool has_memory, std::span<const Sample> samples, std::int64_t dropped);

  // Collective: sums (and the longest sample's length) over every rank of `comm`.
  void reduce(Comm& comm);

  PersonaSampleCounts totals() const;
  const std::vector<PersonaSampleCounts>& by_persona() const { return by_persona_; }  // index = persona + 1
  const std::vector<std::int64_t>& length_histogram() const { return histogram_; }
  std::int64_t longest() const { return longest_; }
  int bin_width() const { return bin_width_; }
  int max_len() const { return max_len_; }

  nlohmann::json to_json() const;

 private:
  int max_len_;
  int bin_width_;
  std::vector<PersonaSampleCounts> by_persona_;  // grows with the largest persona seen
  std::vector<std::int64_t> histogram_;
  std::int64_t longest_ = 0;
};

}  // namespace personas
