// Small vector kernels for the CPU backend's loops (OpenMP simd reductions so
// they vectorise without -ffast-math).
#pragma once

#include <cstdint>

namespace personas::cpu {

inline float dot(const float* a, const float* b, std::int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (std::int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

// y += alpha * x
inline void axpy(float alpha, const float* x, float* y, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace personas::cpu
