#include "eval/exact_sums.h"

#include <cmath>

#include "core/errors.h"

namespace personas {

namespace {
constexpr double kFixedScale = 4294967296.0;  // 2^32
constexpr int kLimbBits = 42;
constexpr Int128 kLimbMask = (static_cast<Int128>(1) << kLimbBits) - 1;
}  // namespace

std::int64_t ExactSums::to_fixed(double value) {
  PERSONAS_ASSERT(std::isfinite(value) && std::abs(value) < 1e9, "term {} out of the exact range", value);
  return static_cast<std::int64_t>(std::llround(value * kFixedScale));
}

void ExactSums::allreduce(Comm& comm) {
  // Low limbs are in [0, 2^42) (two's complement masking), the top limb keeps
  // the sign: total = top * 2^84 + mid * 2^42 + low, every limb an int64.
  std::vector<std::int64_t> limbs(3 * fixed_.size());
  for (std::size_t i = 0; i < fixed_.size(); ++i) {
    const Int128 x = fixed_[i];
    limbs[3 * i] = static_cast<std::int64_t>(x & kLimbMask);
    limbs[3 * i + 1] = static_cast<std::int64_t>((x >> kLimbBits) & kLimbMask);
    limbs[3 * i + 2] = static_cast<std::int64_t>(x >> (2 * kLimbBits));  // arithmetic shift
  }
  comm.allreduce(std::span<std::int64_t>(limbs), ReduceOp::sum);
  for (std::size_t i = 0; i < fixed_.size(); ++i)
    fixed_[i] = (static_cast<Int128>(limbs[3 * i + 2]) << (2 * kLimbBits)) +
                (static_cast<Int128>(limbs[3 * i + 1]) << kLimbBits) + static_cast<Int128>(limbs[3 * i]);
}

double ExactSums::value(std::size_t i) const { return static_cast<double>(fixed_[i]) / kFixedScale; }

}  // namespace personas
