// Sums of doubles that are associative, for figures that must be
// bit-identical for any number of ranks (baselines, metrics, bootstrap).
//
// Each term is rounded once to a multiple of 2^-32 (an int64; |term| < 1e9)
// and accumulated as a 128-bit integer, so neither the order of the terms nor
// their split over ranks changes the result, and totals cannot overflow at
// any realistic scale (2^63 terms of the largest size). The allreduce cuts
// each 128-bit total into three int64 limbs (42 + 42 bits and a signed top),
// sums the limbs over ranks and rebuilds the total: exact for up to 2^21
// ranks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "comm/comm.h"

namespace personas {

// GCC/Clang 128-bit integer (__extension__: not ISO C++, hence -Wpedantic).
__extension__ typedef __int128 Int128;

class ExactSums {
 public:
  explicit ExactSums(std::size_t n) : fixed_(n, 0) {}
  // Rounds `value` (finite, |value| < 1e9) to the fixed-point grid.
  static std::int64_t to_fixed(double value);
  void add(std::size_t i, double value) { fixed_[i] += to_fixed(value); }
  // Adds `weight` times an already rounded term (the bootstrap's resample weights).
  void add_fixed(std::size_t i, std::int64_t fixed, std::int64_t weight = 1) {
    fixed_[i] += static_cast<Int128>(fixed) * weight;
  }
  void allreduce(Comm& comm);
  double value(std::size_t i) const;
  std::size_t size() const { return fixed_.size(); }

 private:
  std::vector<Int128> fixed_;
};

}  // namespace personas
