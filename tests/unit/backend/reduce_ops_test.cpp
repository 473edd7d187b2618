// The ops of the trainer's gradient path on the CPU backend: scale (clipping)
// and sum_squares (the global gradient norm), against double references; the
// sum is in index order, so it equals the host loop the trainer used to run.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/cpu/cpu_backend.h"

namespace personas {
namespace {

std::vector<float> random_values(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(ReduceOps, SumSquaresIsTheIndexOrderDoubleSum) {
  CpuBackend cpu;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{133}, std::size_t{100003}}) {
    auto v = random_values(n, n + 1);
    double expected = 0.0;
    for (float g : v) expected += static_cast<double>(g) * g;
    const double got = cpu.sum_squares({v.data(), DType::f32, 1, static_cast<std::int64_t>(n)});
    EXPECT_EQ(got, expected) << "n " << n << ": the same bits as the loop";
    long double exact = 0.0L;
    for (float g : v) exact += static_cast<long double>(g) * g;
    EXPECT_NEAR(got, static_cast<double>(exact), 1e-12 * static_cast<double>(exact) + 1e-300);
  }
}

TEST(ReduceOps, ScaleMultipliesEveryElement) {
  CpuBackend cpu;
  for (std::size_t n : {std::size_t{1}, std::size_t{5}, std::size_t{70001}}) {
    auto v = random_values(n, 3 * n);
    const auto before = v;
    cpu.scale({v.data(), DType::f32, static_cast<std::int64_t>(n), 1}, 0.37f);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(v[i], before[i] * 0.37f) << i;
  }
  std::vector<std::int32_t> ids(3);
  EXPECT_ANY_THROW(cpu.scale({ids.data(), DType::i32, 1, 3}, 2.0f));
  EXPECT_ANY_THROW(cpu.sum_squares({ids.data(), DType::i32, 1, 3}));
}

TEST(ReduceOps, CpuHasNoDeviceGroupReduction) {
  CpuBackend cpu;
  EXPECT_FALSE(cpu.supports_group_reduce());
  EXPECT_ANY_THROW(cpu.group_reducer_id());
}

}  // namespace
}  // namespace personas
