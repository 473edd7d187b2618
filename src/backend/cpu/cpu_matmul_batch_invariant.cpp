// y = alpha x W^T + beta y with each output element computed by one fixed
// sequence of operations: 4 lane sums over k (lane l takes k = l mod 4, in
// order), the k % 4 tail summed in order, then ((l0 + l1) + (l2 + l3)) + tail.
// A register tile of 4 rows x 3 weight rows does 12 of these at once, and the
// edge tiles do the very same per element, so a row's bits do not depend on
// how many rows there are or where it sits (batch-invariant decoding). Each
// element is written by one thread; threads split the weight rows.
#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "core/errors.h"

// Contraction into FMA (where the target has it) would be decided per
// expression and could differ between the tile shapes: keep a*b+c as two roundings.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace personas {

namespace {

using v4 = float __attribute__((vector_size(16)));

inline v4 load4(const float* p) {
  v4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Rows [MR) of x times weight rows [NR) of w, k deep.
template <int MR, int NR>
void tile(const float* x, const float* w, std::int64_t k, float* y, std::int64_t ldy, float alpha, float beta) {
  v4 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = v4{0.0f, 0.0f, 0.0f, 0.0f};
  const std::int64_t k4 = k - k % 4;
  for (std::int64_t p = 0; p < k4; p += 4) {
    v4 xv[MR], wv[NR];
    for (int i = 0; i < MR; ++i) xv[i] = load4(x + i * k + p);
    for (int j = 0; j < NR; ++j) wv[j] = load4(w + j * k + p);
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += xv[i] * wv[j];
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) {
      float tail = 0.0f;
      for (std::int64_t p = k4; p < k; ++p) tail += x[i * k + p] * w[j * k + p];
      const v4 a = acc[i][j];
      const float d = ((a[0] + a[1]) + (a[2] + a[3])) + tail;
      float* out = y + i * ldy + j;
      *out = beta == 0.0f ? alpha * d : alpha * d + beta * *out;
    }
}

constexpr int kTileRows = 4, kTileCols = 3;
constexpr std::int64_t kColumnBlock = 48;  // weight rows per task (a multiple of kTileCols)

// Columns [c0, c1) of every row.
void column_block(const float* x, std::int64_t m, const float* w, std::int64_t k, float* y, std::int64_t n,
                  std::int64_t c0, std::int64_t c1, float alpha, float beta) {
  std::int64_t c = c0;
  for (; c + kTileCols <= c1; c += kTileCols) {
    std::int64_t r = 0;
    for (; r + kTileRows <= m; r += kTileRows)
      tile<kTileRows, kTileCols>(x + r * k, w + c * k, k, y + r * n + c, n, alpha, beta);
    for (; r < m; ++r) tile<1, kTileCols>(x + r * k, w + c * k, k, y + r * n + c, n, alpha, beta);
  }
  for (; c < c1; ++c)
    for (std::int64_t r = 0; r < m; ++r) tile<1, 1>(x + r * k, w + c * k, k, y + r * n + c, n, alpha, beta);
}

}  // namespace

void CpuBackend::matmul_batch_invariant(TensorView x, TensorView w, TensorView y, float alpha, float beta) {
  PERSONAS_ASSERT(x.dtype == DType::f32 && w.dtype == DType::f32 && y.dtype == DType::f32,
                  "matmul_batch_invariant: f32 only");
  PERSONAS_ASSERT(x.cols == w.cols && y.rows == x.rows && y.cols == w.rows,
                  "matmul_batch_invariant: x [{},{}] w [{},{}] y [{},{}]", x.rows, x.cols, w.rows, w.cols, y.rows,
                  y.cols);
  const std::int64_t m = x.rows, n = w.rows, k = x.cols;
  if (m == 0 || n == 0) return;
  const std::int64_t blocks = (n + kColumnBlock - 1) / kColumnBlock;
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
#pragma omp parallel for schedule(static) if (work > (1 << 18) && blocks > 1)
  for (std::int64_t b = 0; b < blocks; ++b)
    column_block(x.f32(), m, w.f32(), k, y.f32(), n, b * kColumnBlock, std::min(n, (b + 1) * kColumnBlock), alpha,
                 beta);
}

}  // namespace personas
