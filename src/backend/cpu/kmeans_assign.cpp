#include "backend/cpu/kmeans_assign.h"

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "core/errors.h"

namespace personas {
namespace {

constexpr std::int64_t kBlockRows = 256;

// OpenBLAS (pthread build) would start its own threads inside each of our
// OpenMP threads; one BLAS thread per OpenMP thread while we run, then restore.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() {
    if (!omp_in_parallel()) {
      previous_ = openblas_get_num_threads();
      openblas_set_num_threads(1);
    }
  }
  ~SingleThreadedBlas() {
    if (previous_ > 0) openblas_set_num_threads(previous_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_ = 0;
};

// The per-row loops below run once per point per iteration next to a small
// sgemm, so they matter: the build has no -march, hence AVX2 clones picked at
// load time (target_clones). The arithmetic (operations and their order) is the
// same in every clone and FMA contraction is off (-std=c++20), so the result
// bits do not depend on the clone.
#define PERSONAS_HOT __attribute__((target_clones("avx2", "default")))

// Eight independent partial sums: vectorisable (a single running double sum is
// a serial chain of d dependent additions, the hottest spot before).
PERSONAS_HOT double squared_norm(const float* a, std::int64_t d) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t t = 0;
  for (; t + 8 <= d; t += 8)
    for (int j = 0; j < 8; ++j) s[j] += static_cast<double>(a[t + j]) * a[t + j];
  for (; t < d; ++t) s[0] += static_cast<double>(a[t]) * a[t];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// Centroids packed for dots_avx2: [d / 8][k rounded up to 8][8] floats, zero
// centroids as padding.
std::vector<float> pack_centroids(const float* centroids, std::int64_t k, std::int64_t d) {
  const std::int64_t kp = (k + 7) / 8 * 8;
  std::vector<float> packed(static_cast<std::size_t>(d / 8 * kp * 8), 0.0f);
  for (std::int64_t tb = 0; tb < d / 8; ++tb)
    for (std::int64_t c = 0; c < k; ++c)
      for (int j = 0; j < 8; ++j)
        packed[static_cast<std::size_t>((tb * kp + c) * 8 + j)] = centroids[c * d + tb * 8 + j];
  return packed;
}

// Sum of the 8 lanes in a fixed order.
__attribute__((target("avx2,fma"))) inline float lane_sum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// dots[r][c] = x_r . c_c in float, for d a multiple of 8: three rows x four
// centroids per step (12 accumulators + 3 rows + 1 centroid = 16 registers, no
// spills). Each dot is computed the same way whatever the row's position in
// the block, unlike OpenBLAS sgemm (whose packing and edge kernels did half the
// work of the assignment step at k = 16: the data block is repacked for every
// call).
__attribute__((target("avx2,fma"))) void dots_avx2(const float* x, std::int64_t rows, const float* packed,
                                                   std::int64_t k, std::int64_t d, float* dots) {
  constexpr int R = 3, C = 4;
  const std::int64_t kp = (k + 7) / 8 * 8, blocks = d / 8;
  for (std::int64_t r = 0; r < rows; r += R) {
    const float* xr[R];
    for (int i = 0; i < R; ++i) xr[i] = x + std::min(r + i, rows - 1) * d;  // the last row again as padding
    for (std::int64_t c0 = 0; c0 < k; c0 += C) {
      __m256 acc[R][C];
      for (int i = 0; i < R; ++i)
        for (int j = 0; j < C; ++j) acc[i][j] = _mm256_setzero_ps();
      for (std::int64_t tb = 0; tb < blocks; ++tb) {
        __m256 v[R];
        for (int i = 0; i < R; ++i) v[i] = _mm256_loadu_ps(xr[i] + tb * 8);
        const float* cp = packed + (tb * kp + c0) * 8;
        for (int j = 0; j < C; ++j) {
          const __m256 cv = _mm256_loadu_ps(cp + j * 8);
          for (int i = 0; i < R; ++i) acc[i][j] = _mm256_fmadd_ps(v[i], cv, acc[i][j]);
        }
      }
      for (int i = 0; i < R && r + i < rows; ++i)
        for (int j = 0; j < C && c0 + j < k; ++j) dots[(r + i) * k + c0 + j] = lane_sum(acc[i][j]);
    }
  }
}

bool use_avx2_dots(std::int64_t d) {
  static const bool cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return cpu && d % 8 == 0;
}

void assign_block(const float* x, std::int64_t rows, const float* centroids, const float* packed,
                  const double* c_norm, double c_norm_max, std::int64_t k, std::int64_t d, float* dots,
                  std::int32_t* labels, float* distances) {
  // dots[r][c] = x_r . c_c
  if (packed != nullptr)
    dots_avx2(x, rows, packed, k, d, dots);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(k),
              static_cast<int>(d), 1.0f, x, static_cast<int>(d), centroids, static_cast<int>(d), 0.0f, dots,
              static_cast<int>(k));
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    const float* dr = dots + r * k;
    // v_c = ||c||^2 - 2 x.c orders the centroids like the squared distance
    // (||x||^2 is the same for all of them, so it is not computed).
    double best = DBL_MAX;
    std::int64_t best_c = 0;
    for (std::int64_t c = 0; c < k; ++c) {
      const double v = c_norm[c] - 2.0 * static_cast<double>(dr[c]);
      if (v < best) {
        best = v;
        best_c = c;
      }
    }
    double exact_best = exact_squared_distance(xr, centroids + best_c * d, d);
    // Any float dot product of length d (any summation order, FMA or not) is
    // within gamma_d ||x|| ||c|| of the exact one, gamma_d ~ d * 2^-24; so v_c
    // is within 2 gamma_d ||x|| ||c_max|| of its exact value and two centroids
    // can only be misordered when their v differ by less than
    // 4 gamma_d ||x|| ||c_max||. Re-check those, with a factor 2 of margin and
    // ||x|| <= ||x - c_best|| + ||c_best|| (no pass over x for its norm).
    const double x_len = (std::sqrt(exact_best) + std::sqrt(c_norm[best_c])) * (1.0 + 1e-6);
    const double bound = 8.0 * (static_cast<double>(d) + 2.0) * 0.5 * static_cast<double>(FLT_EPSILON) * x_len *
                             std::sqrt(c_norm_max) +
                         1e-12 * (x_len * x_len + c_norm_max);
    for (std::int64_t c = 0; c < k; ++c) {
      if (c == best_c) continue;
      const double v = c_norm[c] - 2.0 * static_cast<double>(dr[c]);
      if (v > best + bound) continue;
      const double e = exact_squared_distance(xr, centroids + c * d, d);
      if (e < exact_best || (e == exact_best && c < best_c)) {
        exact_best = e;
        best_c = c;
      }
    }
    labels[r] = static_cast<std::int32_t>(best_c);
    distances[r] = static_cast<float>(exact_best);
  }
}

}  // namespace

PERSONAS_HOT double exact_squared_distance(const float* a, const float* b, std::int64_t d) {
  // Four independent partial sums in a fixed order: vectorisable and deterministic.
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  std::int64_t t = 0;
  for (; t + 4 <= d; t += 4) {
    const double e0 = static_cast<double>(a[t]) - b[t];
    const double e1 = static_cast<double>(a[t + 1]) - b[t + 1];
    const double e2 = static_cast<double>(a[t + 2]) - b[t + 2];
    const double e3 = static_cast<double>(a[t + 3]) - b[t + 3];
    s0 += e0 * e0;
    s1 += e1 * e1;
    s2 += e2 * e2;
    s3 += e3 * e3;
  }
  for (; t < d; ++t) {
    const double e = static_cast<double>(a[t]) - b[t];
    s0 += e * e;
  }
  return (s0 + s1) + (s2 + s3);
}

void cpu_kmeans_assign(const float* points, std::int64_t n, const float* centroids, std::int64_t k, std::int64_t d,
                       std::int32_t* labels, float* distances) {
  PERSONAS_CHECK(k >= 1 && d >= 1 && n >= 0, internal, "kmeans_assign: bad shape n={} k={} d={}", n, k, d);
  if (n == 0) return;
  std::vector<double> c_norm(static_cast<std::size_t>(k));
  double c_norm_max = 0.0;
  for (std::int64_t c = 0; c < k; ++c) {
    c_norm[static_cast<std::size_t>(c)] = squared_norm(centroids + c * d, d);
    c_norm_max = std::max(c_norm_max, c_norm[static_cast<std::size_t>(c)]);
  }
  const std::int64_t n_blocks = (n + kBlockRows - 1) / kBlockRows;
  const std::vector<float> packed = use_avx2_dots(d) ? pack_centroids(centroids, k, d) : std::vector<float>{};
  SingleThreadedBlas single_blas;
#pragma omp parallel
  {
    std::vector<float> dots(static_cast<std::size_t>(kBlockRows * k));
#pragma omp for schedule(static)
    for (std::int64_t b = 0; b < n_blocks; ++b) {
      const std::int64_t begin = b * kBlockRows;
      const std::int64_t rows = std::min(kBlockRows, n - begin);
      assign_block(points + begin * d, rows, centroids, packed.empty() ? nullptr : packed.data(), c_norm.data(), c_norm_max, k, d, dots.data(), labels + begin,
                   distances + begin);
    }
  }
}

}  // namespace personas
