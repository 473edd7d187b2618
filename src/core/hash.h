// SplitMix64 (Steele, Lea and Flood, 2014) in the forms the project uses:
// one definition, so every seeded stream (initial weights, dropout masks,
// shuffles, synthetic data, k-means seeding, bootstrap weights, sampling)
// stays bit-compatible wherever it is computed, the CUDA dropout kernel
// included (the pure hashes are __host__ __device__ under nvcc).
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define PERSONAS_HOST_DEVICE __host__ __device__
#else
#define PERSONAS_HOST_DEVICE
#endif

namespace personas {

inline constexpr std::uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

// SplitMix64's output function: a bijective 64-bit mix.
PERSONAS_HOST_DEVICE constexpr std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The generator: advances `state` by the golden gamma and returns the mix.
inline std::uint64_t splitmix64(std::uint64_t& state) { return mix64(state += kGoldenGamma); }

// One generator step from x, as a hash of x.
PERSONAS_HOST_DEVICE constexpr std::uint64_t splitmix64_hash(std::uint64_t x) { return mix64(x + kGoldenGamma); }

// 64 random bits to a double uniform in [0, 1), from the top 53 bits: the one
// conversion every seeded stream uses (std:: distributions differ across
// standard libraries).
PERSONAS_HOST_DEVICE constexpr double unit_interval(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// A hash of the pair (a, b): the b+1-th output of a generator seeded with a.
PERSONAS_HOST_DEVICE constexpr std::uint64_t hash_pair(std::uint64_t a, std::uint64_t b) { return mix64(a + kGoldenGamma * (b + 1)); }

// splitmix64_hash chained over three parts: h(h(h(a) ^ b) ^ c).
PERSONAS_HOST_DEVICE constexpr std::uint64_t hash_chain(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  return splitmix64_hash(splitmix64_hash(splitmix64_hash(a) ^ b) ^ c);
}

}  // namespace personas
