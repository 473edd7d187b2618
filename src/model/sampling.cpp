#include "model/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/errors.h"
#include "core/hash.h"

namespace personas {

std::int32_t argmax(std::span<const float> values) {
  PERSONAS_ASSERT(!values.empty(), "argmax of nothing");
  std::size_t best = 0;
  for (std::size_t i = 1; i < values.size(); ++i)
    if (values[i] > values[best]) best = i;
  return static_cast<std::int32_t>(best);
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {
  PERSONAS_CHECK(options.temperature >= 0.0f, internal, "temperature {} must be >= 0", options.temperature);
  PERSONAS_CHECK(options.top_k >= 0, internal, "top-k {} must be >= 0", options.top_k);
  PERSONAS_CHECK(options.top_p > 0.0f && options.top_p <= 1.0f, internal, "top-p {} must be in (0, 1]", options.top_p);
  PERSONAS_CHECK(options.repetition_penalty >= 1.0f, internal, "repetition penalty {} must be >= 1",
                 options.repetition_penalty);
}

std::int32_t Sampler::next(std::span<const float> logits) {
  if (options_.repetition_penalty == 1.0f) return choose(logits);
  std::span<const float> row = logits;
  if (!chosen_.empty()) {
    penalized_.assign(logits.begin(), logits.end());
    for (const auto id : chosen_) {
      float& l = penalized_[static_cast<std::size_t>(id)];
      l = l > 0.0f ? l / options_.repetition_penalty : l * options_.repetition_penalty;
    }
    row = penalized_;
  }
  const std::int32_t id = choose(row);
  const auto at = std::lower_bound(chosen_.begin(), chosen_.end(), id);
  if (at == chosen_.end() || *at != id) chosen_.insert(at, id);
  return id;
}

std::int32_t Sampler::choose(std::span<const float> logits) {
  if (options_.temperature == 0.0f) return argmax(logits);
  // Candidates sorted by logit (ties: lower id first), cut by top-k, then softmax
  // at the temperature, then the nucleus: the smallest prefix with mass >= top_p.
  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::size_t keep = order.size();
  if (options_.top_k > 0) keep = std::min(keep, static_cast<std::size_t>(options_.top_k));
  auto better = [&](std::int32_t a, std::int32_t b) {
    const float la = logits[static_cast<std::size_t>(a)], lb = logits[static_cast<std::size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  if (keep < order.size()) {
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(), better);
    order.resize(keep);
  } else {
    std::sort(order.begin(), order.end(), better);
  }
  const double mx = logits[static_cast<std::size_t>(order[0])];
  std::vector<double> p(order.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    p[i] = std::exp((logits[static_cast<std::size_t>(order[i])] - mx) / options_.temperature);
    sum += p[i];
  }
  std::size_t n = order.size();
  if (options_.top_p < 1.0f) {
    double cumulative = 0.0;
    for (std::size_t i = 0; i < order.size(); ++i) {
      cumulative += p[i] / sum;
      if (cumulative >= options_.top_p) {
        n = i + 1;
        break;
      }
    }
  }
  const double total = std::accumulate(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n), 0.0);
  const double u = unit_interval(rng_()) * total;
  double cumulative = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    cumulative += p[i];
    if (u < cumulative) return order[i];
  }
  return order[n - 1];
}

}  // namespace personas
