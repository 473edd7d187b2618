// A tiny, fully specified random generator (SplitMix64) for the evaluation:
// the same draws on every platform and standard library, so seeded baselines
// and bootstrap intervals reproduce exactly.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

#include "core/hash.h"

namespace personas {

struct SplitMix64 {
  std::uint64_t state;
  explicit SplitMix64(std::uint64_t seed) : state(seed) {}
  std::uint64_t next() { return splitmix64(state); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return unit_interval(next()); }
  // Uniform integer in [0, n) (modulo bias below 2^-40 for n < 2^24).
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // Standard normal by Box-Muller (one value per call; simple and reproducible).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
};

}  // namespace personas
