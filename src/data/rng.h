// A small, fast, portable random generator (xoshiro256**, seeded through
// SplitMix64) with our own uniform/normal/exponential draws, so that data sets
// are identical on every platform and standard library. Streams are derived
// from (seed, tag, index): user u of the synthetic data always gets the same
// stream, whichever rank generates it.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

#include "core/hash.h"

namespace personas {

// A seed for the stream (seed, tag, index); tags keep unrelated uses apart.
inline std::uint64_t derive_seed(std::uint64_t seed, std::string_view tag, std::uint64_t index = 0) {
  std::uint64_t h = 14695981039346656037ULL;
  for (char c : tag) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  std::uint64_t state = seed ^ h;
  std::uint64_t a = splitmix64(state);
  state = a ^ (index * 0xD1B54A32D192ED03ULL);
  return splitmix64(state);
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& word : s_) word = splitmix64(seed);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1).
  double uniform() { return unit_interval(next()); }
  // Uniform integer in [0, n) (n > 0); the modulo bias is below 2^-32 for n < 2^32.
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // Standard normal (Box-Muller; one value per call, simple and deterministic).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Exponential with the given mean.
  double exponential(double mean) { return -mean * std::log1p(-uniform()); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace personas
