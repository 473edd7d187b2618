// Sums over ranks that do not depend on how the points are split.
//
// Floating-point addition is not associative, so allreducing double partial
// sums gives results that differ in the last bits between 1, 2 and 3 ranks,
// and k-means can then drift apart. Instead every value is rounded once to a
// fixed-point integer (scale 2^s chosen from a global bound on |value| and the
// number of terms so the int64 sum cannot overflow); integer sums are exact
// and associative, so any grouping (threads, ranks) gives the same bits. The
// resolution is about bound * 2^-(62 - log2(terms)), far below float precision
// for the data sizes here. The result is handed back as double.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace personas {

class FixedPoint {
 public:
  // |value| <= bound for every term; at most `terms` terms are summed.
  FixedPoint(double bound, std::int64_t terms) {
    int bits = 62 - static_cast<int>(std::ceil(std::log2(static_cast<double>(terms) + 1.0)));
    bits = std::min(bits, 50);  // the rounding trick below needs |scaled| < 2^51
    int exponent = 0;
    std::frexp(bound > 0.0 ? bound : 1.0, &exponent);  // bound < 2^exponent
    scale_ = std::ldexp(1.0, bits - exponent);
    inverse_ = 1.0 / scale_;
  }
  // Round to nearest via the 1.5 * 2^52 trick (vectorises; no lround call).
  std::int64_t to_fixed(double value) const {
    constexpr double kMagic = 6755399441055744.0;
    return std::bit_cast<std::int64_t>(value * scale_ + kMagic) - std::bit_cast<std::int64_t>(kMagic);
  }
  double to_double(std::int64_t fixed) const { return static_cast<double>(fixed) * inverse_; }
  double scale() const { return scale_; }

 private:
  double scale_ = 1.0;
  double inverse_ = 1.0;
};

}  // namespace personas
