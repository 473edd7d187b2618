#include "train/sample_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace personas {

void PersonaSampleCounts::add_to(std::int64_t* out) const {
  const std::int64_t v[kFields] = {users,        users_without_memory, train_samples, validation_samples, train_tokens,
                                   validation_tokens, answer_tokens,  shortened,     dropped};
  for (std::size_t i = 0; i < kFields; ++i) out[i] += v[i];
}

void PersonaSampleCounts::take_from(const std::int64_t* in) {
  std::int64_t* v[kFields] = {&users,        &users_without_memory, &train_samples, &validation_samples, &train_tokens,
                              &validation_tokens, &answer_tokens,  &shortened,     &dropped};
  for (std::size_t i = 0; i < kFields; ++i) *v[i] = in[i];
}

SampleSummary::SampleSummary(int max_len, int bin_width) : max_len_(max_len), bin_width_(bin_width) {
  PERSONAS_ASSERT(max_len > 0 && bin_width > 0, "sample summary: max_len and bin width must be positive");
  histogram_.assign(static_cast<std::size_t>((max_len + bin_width - 1) / bin_width), 0);
}

void SampleSummary::add_user(std::int32_t persona, bool has_memory, std::span<const Sample> samples,
                             std::int64_t dropped) {
  PERSONAS_ASSERT(persona >= -1, "sample summary: persona below -1");
  const auto slot = static_cast<std::size_t>(persona + 1);
  if (slot >= by_persona_.size()) by_persona_.resize(slot + 1);
  PersonaSampleCounts& c = by_persona_[slot];
  ++c.users;
  if (!has_memory) ++c.users_without_memory;
  c.dropped += dropped;
  for (const Sample& s : samples) {
    const auto length = static_cast<std::int64_t>(s.ids.size());
    (s.validation ? c.validation_samples : c.train_samples) += 1;
    (s.validation ? c.validation_tokens : c.train_tokens) += length;
    c.answer_tokens += s.n_answer_tokens();
    c.shortened += s.shortened ? 1 : 0;
    longest_ = std::max(longest_, length);
    // Samples never exceed max_len (they are cut or dropped to fit); clamp anyway.
    const auto bin = std::clamp<std::int64_t>((length - 1) / bin_width_, 0,
                                              static_cast<std::int64_t>(histogram_.size()) - 1);
    ++histogram_[static_cast<std::size_t>(bin)];
  }
}

void SampleSummary::reduce(Comm& comm) {
  // Same number of persona slots everywhere, then one exact integer sum.
  std::int64_t sizes[2] = {static_cast<std::int64_t>(by_persona_.size()), longest_};
  comm.allreduce(std::span<std::int64_t>(sizes, 2), ReduceOp::max);
  by_persona_.resize(static_cast<std::size_t>(sizes[0]));
  longest_ = sizes[1];
  const std::size_t n = by_persona_.size() * PersonaSampleCounts::kFields;
  std::vector<std::int64_t> flat(n + histogram_.size(), 0);
  for (std::size_t p = 0; p < by_persona_.size(); ++p) by_persona_[p].add_to(flat.data() + p * PersonaSampleCounts::kFields);
  std::copy(histogram_.begin(), histogram_.end(), flat.begin() + static_cast<std::ptrdiff_t>(n));
  comm.allreduce(std::span<std::int64_t>(flat), ReduceOp::sum);
  for (std::size_t p = 0; p < by_persona_.size(); ++p) by_persona_[p].take_from(flat.data() + p * PersonaSampleCounts::kFields);
  std::copy(flat.begin() + static_cast<std::ptrdiff_t>(n), flat.end(), histogram_.begin());
}

PersonaSampleCounts SampleSummary::totals() const {
  std::int64_t sum[PersonaSampleCounts::kFields] = {};
  for (const auto& c : by_persona_) c.add_to(sum);
  PersonaSampleCounts t;
  t.take_from(sum);
  return t;
}

namespace {

nlohmann::json counts_json(const PersonaSampleCounts& c) {
  const std::int64_t samples = c.train_samples + c.validation_samples;
  const std::int64_t tokens = c.train_tokens + c.validation_tokens;
  const std::int64_t with_memory = c.users - c.users_without_memory;
  return {{"users", c.users},
          {"users_without_memory", c.users_without_memory},
          {"train_samples", c.train_samples},
          {"validation_samples", c.validation_samples},
          {"train_tokens", c.train_tokens},
          {"validation_tokens", c.validation_tokens},
          {"answer_tokens", c.answer_tokens},
          {"shortened", c.shortened},
          {"dropped", c.dropped},
          // Derived (rounded to 0.01 so the text is the same on every platform).
          {"samples_per_user", with_memory > 0 ? std::round(100.0 * samples / with_memory) / 100 : 0.0},
          {"tokens_per_sample", samples > 0 ? std::round(100.0 * tokens / samples) / 100 : 0.0},
          {"tokens_per_user", with_memory > 0 ? std::round(100.0 * tokens / with_memory) / 100 : 0.0}};
}

}  // namespace

nlohmann::json SampleSummary::to_json() const {
  nlohmann::json personas = nlohmann::json::array();
  for (std::size_t p = 0; p < by_persona_.size(); ++p) {
    if (by_persona_[p].users == 0) continue;
    auto j = counts_json(by_persona_[p]);
    j["persona"] = static_cast<std::int64_t>(p) - 1;
    personas.push_back(std::move(j));
  }
  nlohmann::json bins = nlohmann::json::array();
  for (std::size_t b = 0; b < histogram_.size(); ++b) {
    const std::int64_t lo = static_cast<std::int64_t>(b) * bin_width_ + 1;
    const std::int64_t hi = std::min<std::int64_t>(lo + bin_width_ - 1, max_len_);
    bins.push_back({{"from", lo}, {"to", hi}, {"samples", histogram_[b]}});
  }
  return {{"totals", counts_json(totals())},
          {"longest", longest_},
          {"max_len", max_len_},
          {"length_histogram", {{"bin_width", bin_width_}, {"bins", bins}}},
          {"personas", personas}};
}

}  // namespace personas
