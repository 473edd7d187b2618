#include "backend/cpu/kmeans_assign.h"

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "backend/cpu/host_threads.h"
#include "core/errors.h"

namespace personas {
namespace {

constexpr std::int64_t kBlockRows = 256;

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

// Centroids packed for dots_avx2: groups of 16 centroids (the last group 8
// wide when k mod 16 <= 8), each group [d][width] floats so that one t gives
// the group's coordinates as contiguous vectors; zero centroids pad k up to a
// multiple of 8.
struct PackedCentroids {
  std::vector<float> data;
  std::int64_t k = 0, d = 0;
};

std::int64_t group_width(std::int64_t c0, std::int64_t k) { return k - c0 > 8 ? 16 : 8; }

PackedCentroids pack_centroids(const float* centroids, std::int64_t k, std::int64_t d) {
  const std::int64_t kp = (k + 7) / 8 * 8;
  PackedCentroids p{std::vector<float>(static_cast<std::size_t>(kp * d), 0.0f), k, d};
  for (std::int64_t c0 = 0; c0 < k; c0 += group_width(c0, k)) {
    const std::int64_t w = group_width(c0, k);
    float* g = p.data.data() + c0 * d;
    for (std::int64_t t = 0; t < d; ++t)
      for (std::int64_t j = 0; j < w && c0 + j < k; ++j) g[t * w + j] = centroids[(c0 + j) * d + t];
  }
  return p;
}

// dots[r][c0 + j] for one group of W vectors (8 W centroids): a register-tiled
// micro-kernel, six rows at a time, each x_t broadcast against the group's
// coordinates (6 x 2 accumulators + 2 centroid vectors + 1 broadcast = 15 of
// the 16 registers). The accumulators are named variables: as an array GCC
// kept a copy on the stack, stored every step. Every dot is one FMA chain over
// t in index order, so it does not depend on the row's position in the block
// (the last row is repeated as padding).
#define PERSONAS_ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
template <int W>
__attribute__((target("avx2,fma"))) void dots_group(const float* x, std::int64_t rows, const float* group,
                                                    std::int64_t c0, std::int64_t k, std::int64_t d, float* dots) {
  constexpr int R = 6;
  for (std::int64_t r = 0; r < rows; r += R) {
#define PERSONAS_ROW_PTR(i) const float* x##i = x + std::min<std::int64_t>(r + i, rows - 1) * d;
#define PERSONAS_ACC_INIT(i) __m256 a##i##0 = _mm256_setzero_ps(), a##i##1 = _mm256_setzero_ps();
    PERSONAS_ROWS6(PERSONAS_ROW_PTR)
    PERSONAS_ROWS6(PERSONAS_ACC_INIT)
    // The next six rows stream in from memory while these are computed (the
    // hardware prefetcher alone left the kernel waiting on DRAM: it ran at half
    // its in-cache speed); one 64-byte line of each next row per 16 t.
    const float* next = x + std::min<std::int64_t>(r + R, rows - 1) * d;
    const std::int64_t next_rows = std::min<std::int64_t>(R, std::max<std::int64_t>(rows - r - R, 0));
    for (std::int64_t t = 0; t < d; ++t) {
      if ((t & 15) == 0)
        for (std::int64_t i = 0; i < next_rows; ++i) _mm_prefetch(reinterpret_cast<const char*>(next + i * d + t), _MM_HINT_T0);
      const __m256 c0v = _mm256_loadu_ps(group + t * 8 * W);
      const __m256 c1v = W == 2 ? _mm256_loadu_ps(group + t * 8 * W + 8) : c0v;
#define PERSONAS_FMA(i)                                        \
  {                                                            \
    const __m256 xv = _mm256_broadcast_ss(x##i + t);           \
    a##i##0 = _mm256_fmadd_ps(xv, c0v, a##i##0);                \
    if constexpr (W == 2) a##i##1 = _mm256_fmadd_ps(xv, c1v, a##i##1); \
  }
      PERSONAS_ROWS6(PERSONAS_FMA)
    }
    alignas(32) float lanes[R][16];
#define PERSONAS_STORE(i)                         \
  _mm256_store_ps(lanes[i], a##i##0);             \
  if constexpr (W == 2) _mm256_store_ps(lanes[i] + 8, a##i##1); \
  else (void)a##i##1;
    PERSONAS_ROWS6(PERSONAS_STORE)
#undef PERSONAS_ROW_PTR
#undef PERSONAS_ACC_INIT
#undef PERSONAS_FMA
#undef PERSONAS_STORE
    for (int i = 0; i < R && r + i < rows; ++i)
      for (int j = 0; j < 8 * W && c0 + j < k; ++j) dots[(r + i) * k + c0 + j] = lanes[i][j];
  }
}
#undef PERSONAS_ROWS6

__attribute__((target("avx2,fma"))) void dots_avx2(const float* x, std::int64_t rows, const PackedCentroids& packed,
                                                   float* dots) {
  const std::int64_t k = packed.k, d = packed.d;
  for (std::int64_t c0 = 0; c0 < k; c0 += group_width(c0, k)) {
    const float* group = packed.data.data() + c0 * d;
    if (group_width(c0, k) == 16)
      dots_group<2>(x, rows, group, c0, k, d, dots);
    else
      dots_group<1>(x, rows, group, c0, k, d, dots);
  }
}

// v_c = ||c||^2 - 2 x.c for one row (a vectorised loop; v is per-row scratch).
constexpr std::int64_t kMaxScoredCentroids = 4096;
PERSONAS_HOT void centroid_scores(const double* c_norm, const float* dots, std::int64_t k, double* v) {
  for (std::int64_t c = 0; c < k; ++c) v[c] = c_norm[c] - 2.0 * static_cast<double>(dots[c]);
}

bool use_avx2_dots() {
  static const bool cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return cpu;
}

void assign_block(const float* x, std::int64_t rows, const float* centroids, const PackedCentroids* packed,
                  const double* c_norm, double c_norm_max, std::int64_t k, std::int64_t d, float* dots,
                  std::int32_t* labels, float* distances) {
  double v[kMaxScoredCentroids];
  // dots[r][c] = x_r . c_c
  if (packed != nullptr)
    dots_avx2(x, rows, *packed, dots);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(k),
              static_cast<int>(d), 1.0f, x, static_cast<int>(d), centroids, static_cast<int>(d), 0.0f, dots,
              static_cast<int>(k));
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    const float* dr = dots + r * k;
    // v_c = ||c||^2 - 2 x.c orders the centroids like the squared distance
    // (||x||^2 is the same for all of them, so it is not computed).
    centroid_scores(c_norm, dr, k, v);
    double best = DBL_MAX;
    std::int64_t best_c = 0;
    for (std::int64_t c = 0; c < k; ++c) {
      if (v[c] < best) {
        best = v[c];
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
    const std::int64_t first_best = best_c;
    for (std::int64_t c = 0; c < k; ++c) {
      if (c == first_best) continue;
      if (v[c] > best + bound) continue;
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

namespace {

// The last d - t terms into s[0..], then the fixed combination tree.
double finish_partial_sums(double* s, const float* a, const float* b, std::int64_t t, std::int64_t d) {
  for (int j = 0; t < d; ++t, ++j) {
    const double e = static_cast<double>(a[t]) - b[t];
    s[j] += e * e;
  }
  double v[4];
  for (int l = 0; l < 4; ++l) v[l] = (s[l] + s[4 + l]) + (s[8 + l] + s[12 + l]);
  return (v[0] + v[1]) + (v[2] + v[3]);
}

// exact_squared_distance with AVX2 intrinsics: accumulator j holds s[4j..4j+3],
// so the sums and their combination are those of the portable version below.
__attribute__((target("avx2"))) double exact_squared_distance_avx2(const float* a, const float* b, std::int64_t d) {
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  std::int64_t t = 0;
  for (; t + 16 <= d; t += 16)
    for (int j = 0; j < 4; ++j) {
      const __m256d e = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + t + 4 * j)), _mm256_cvtps_pd(_mm_loadu_ps(b + t + 4 * j)));
      acc[j] = _mm256_add_pd(acc[j], _mm256_mul_pd(e, e));
    }
  alignas(32) double s[16];
  for (int j = 0; j < 4; ++j) _mm256_store_pd(s + 4 * j, acc[j]);
  return finish_partial_sums(s, a, b, t, d);
}

double exact_squared_distance_portable(const float* a, const float* b, std::int64_t d) {
  // Sixteen partial sums (s[t mod 16]) combined in a fixed tree: the same bits
  // as the AVX2 version above and as cuda/kmeans.cu.
  double s[16] = {};
  std::int64_t t = 0;
  for (; t + 16 <= d; t += 16)
    for (int j = 0; j < 16; ++j) {
      const double e = static_cast<double>(a[t + j]) - b[t + j];
      s[j] += e * e;
    }
  return finish_partial_sums(s, a, b, t, d);
}

}  // namespace

double exact_squared_distance(const float* a, const float* b, std::int64_t d) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? exact_squared_distance_avx2(a, b, d) : exact_squared_distance_portable(a, b, d);
}

void cpu_kmeans_assign(const float* points, std::int64_t n, const float* centroids, std::int64_t k, std::int64_t d,
                       std::int32_t* labels, float* distances) {
  PERSONAS_CHECK(k >= 1 && d >= 1 && n >= 0, internal, "kmeans_assign: bad shape n={} k={} d={}", n, k, d);
  PERSONAS_CHECK(k <= kMaxScoredCentroids, config, "kmeans_assign: k = {} is above the supported {}", k,
                 kMaxScoredCentroids);
  if (n == 0) return;
  std::vector<double> c_norm(static_cast<std::size_t>(k));
  double c_norm_max = 0.0;
  for (std::int64_t c = 0; c < k; ++c) {
    c_norm[static_cast<std::size_t>(c)] = squared_norm(centroids + c * d, d);
    c_norm_max = std::max(c_norm_max, c_norm[static_cast<std::size_t>(c)]);
  }
  const std::int64_t n_blocks = (n + kBlockRows - 1) / kBlockRows;
  const PackedCentroids packed = use_avx2_dots() ? pack_centroids(centroids, k, d) : PackedCentroids{};
  SingleThreadedBlas single_blas;
#pragma omp parallel
  {
    std::vector<float> dots(static_cast<std::size_t>(kBlockRows * k));
#pragma omp for schedule(static)
    for (std::int64_t b = 0; b < n_blocks; ++b) {
      const std::int64_t begin = b * kBlockRows;
      const std::int64_t rows = std::min(kBlockRows, n - begin);
      assign_block(points + begin * d, rows, centroids, packed.data.empty() ? nullptr : &packed, c_norm.data(),
                   c_norm_max, k, d, dots.data(), labels + begin, distances + begin);
    }
  }
}

}  // namespace personas
