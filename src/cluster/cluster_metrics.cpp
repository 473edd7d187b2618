#include "cluster/cluster_metrics.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "backend/cpu/host_threads.h"
#include "cluster/serial_when_small.h"
#include "comm/sharding.h"
#include "core/errors.h"

namespace personas {

double adjusted_rand_index(std::span<const std::int32_t> a, std::span<const std::int32_t> b) {
  PERSONAS_CHECK(a.size() == b.size(), internal, "adjusted_rand_index: {} vs {} labels", a.size(), b.size());
  const auto n = static_cast<double>(a.size());
  if (a.size() < 2) return 1.0;
  std::map<std::pair<int, int>, double> table;
  std::map<int, double> rows, cols;
  for (std::size_t i = 0; i < a.size(); ++i) {
    table[{a[i], b[i]}] += 1;
    rows[a[i]] += 1;
    cols[b[i]] += 1;
  }
  auto pairs = [](double m) { return m * (m - 1) / 2; };
  double index = 0, sum_rows = 0, sum_cols = 0;
  for (const auto& [key, m] : table) index += pairs(m);
  for (const auto& [key, m] : rows) sum_rows += pairs(m);
  for (const auto& [key, m] : cols) sum_cols += pairs(m);
  const double expected = sum_rows * sum_cols / pairs(n);
  const double maximum = (sum_rows + sum_cols) / 2;
  if (maximum == expected) return 1.0;  // both partitions trivial (all one cluster or all singletons)
  return (index - expected) / (maximum - expected);
}

double silhouette_score(Comm& comm, std::span<const float> points, int d, std::span<const std::int32_t> labels) {
  const auto n = static_cast<std::int64_t>(labels.size());
  PERSONAS_CHECK(points.size() == static_cast<std::size_t>(n) * d, internal, "silhouette: {} values for {} x {}",
                 points.size(), n, d);
  int k = 0;
  for (auto l : labels) k = std::max(k, l + 1);
  std::vector<std::int64_t> size(static_cast<std::size_t>(k), 0);
  for (auto l : labels) ++size[static_cast<std::size_t>(l)];
  int used = 0;
  for (auto s : size) used += s > 0 ? 1 : 0;
  if (used < 2) return 0.0;
  std::vector<double> norm(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int t = 0; t < d; ++t) s += static_cast<double>(points[static_cast<std::size_t>(i * d + t)]) * points[static_cast<std::size_t>(i * d + t)];
    norm[static_cast<std::size_t>(i)] = s;
  }
  const auto [begin, end] = block_range(n, comm.rank(), comm.size());
  // Blocks of rows over our threads, one sgemm each on its thread: one parallel
  // region per silhouette (not one BLAS thread team per block), and none when
  // the whole sum is small (SerialWhenSmall).
  constexpr std::int64_t kBlock = 128;
  const std::int64_t n_blocks = (end - begin + kBlock - 1) / kBlock;
  std::vector<double> s_of(static_cast<std::size_t>(std::max<std::int64_t>(end - begin, 0)), 0.0);
  const SerialWhenSmall serial(static_cast<double>(end - begin) * static_cast<double>(n) * d);
  const SingleThreadedBlas single_blas;
#pragma omp parallel
  {
    std::vector<float> dots(static_cast<std::size_t>(kBlock * n));
    std::vector<double> sum(static_cast<std::size_t>(k));
#pragma omp for schedule(dynamic)
    for (std::int64_t block = 0; block < n_blocks; ++block) {
      const std::int64_t b0 = begin + block * kBlock;
      const std::int64_t rows = std::min(kBlock, end - b0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(n), d, 1.0f,
                  points.data() + b0 * d, d, points.data(), d, 0.0f, dots.data(), static_cast<int>(n));
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t i = b0 + r;
        std::fill(sum.begin(), sum.end(), 0.0);
        for (std::int64_t j = 0; j < n; ++j) {
          if (j == i) continue;
          const double sq = norm[static_cast<std::size_t>(i)] + norm[static_cast<std::size_t>(j)] -
                            2.0 * dots[static_cast<std::size_t>(r * n + j)];
          sum[static_cast<std::size_t>(labels[static_cast<std::size_t>(j)])] += std::sqrt(std::max(sq, 0.0));
        }
        const int own = labels[static_cast<std::size_t>(i)];
        if (size[static_cast<std::size_t>(own)] <= 1) continue;  // s = 0
        const double a = sum[static_cast<std::size_t>(own)] / static_cast<double>(size[static_cast<std::size_t>(own)] - 1);
        double b = INFINITY;
        for (int c = 0; c < k; ++c)
          if (c != own && size[static_cast<std::size_t>(c)] > 0)
            b = std::min(b, sum[static_cast<std::size_t>(c)] / static_cast<double>(size[static_cast<std::size_t>(c)]));
        const double m = std::max(a, b);
        if (m > 0) s_of[static_cast<std::size_t>(i - begin)] = (b - a) / m;
      }
    }
  }
  double total = 0;  // in row order: the same for any thread count
  for (double v : s_of) total += v;
  return comm.allreduce_sum(total) / static_cast<double>(n);
}

double within_cluster_sse(Comm& comm, std::span<const float> points, int d, std::span<const std::int32_t> labels,
                          int k) {
  PERSONAS_CHECK(points.size() == labels.size() * static_cast<std::size_t>(d) && k >= 1, internal,
                 "within_cluster_sse: {} values for {} labels x {}", points.size(), labels.size(), d);
  const auto kd = static_cast<std::size_t>(k) * static_cast<std::size_t>(d);
  std::vector<double> sums(kd + static_cast<std::size_t>(k), 0.0);  // [k, d] sums, then [k] counts
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto c = static_cast<std::size_t>(labels[i]);
    PERSONAS_CHECK(c < static_cast<std::size_t>(k), internal, "within_cluster_sse: label {} with k = {}", labels[i], k);
    for (int t = 0; t < d; ++t) sums[c * d + static_cast<std::size_t>(t)] += points[i * d + static_cast<std::size_t>(t)];
    sums[kd + c] += 1.0;
  }
  comm.allreduce(std::span<double>(sums), ReduceOp::sum);
  double sse = 0.0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto c = static_cast<std::size_t>(labels[i]);
    for (int t = 0; t < d; ++t) {
      const double e = points[i * d + static_cast<std::size_t>(t)] - sums[c * d + static_cast<std::size_t>(t)] / sums[kd + c];
      sse += e * e;
    }
  }
  return comm.allreduce_sum(sse);
}

int kneedle_elbow(std::span<const double> x, std::span<const double> y) {
  PERSONAS_CHECK(x.size() == y.size(), internal, "kneedle: {} x vs {} y", x.size(), y.size());
  if (x.size() < 3) return -1;
  const double x0 = x.front(), x1 = x.back();
  const double y_max = *std::max_element(y.begin(), y.end()), y_min = *std::min_element(y.begin(), y.end());
  if (x1 == x0 || y_max == y_min) return -1;
  const double yn0 = (y.front() - y_min) / (y_max - y_min), yn1 = (y.back() - y_min) / (y_max - y_min);
  int best = -1;
  double best_gap = 0;
  for (std::size_t i = 1; i + 1 < x.size(); ++i) {
    const double xn = (x[i] - x0) / (x1 - x0);
    const double yn = (y[i] - y_min) / (y_max - y_min);
    const double gap = (yn0 + (yn1 - yn0) * xn) - yn;  // below the chord
    if (gap > best_gap + 1e-12) best_gap = gap, best = static_cast<int>(i);
  }
  return best;
}

}  // namespace personas
