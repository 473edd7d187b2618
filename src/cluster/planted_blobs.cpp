#include "cluster/planted_blobs.h"

#include <cmath>
#include <numeric>

#include "cluster/kmeans_init.h"
#include "core/errors.h"

namespace personas {
namespace {

double normal(std::uint64_t seed, std::uint64_t purpose, std::uint64_t j) {
  const double u1 = hash_uniform(seed, purpose, 2 * j), u2 = hash_uniform(seed, purpose, 2 * j + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace

std::vector<float> planted_blob_rows(const PlantedBlobs& s, std::int64_t first, std::int64_t count,
                                     std::vector<std::int32_t>* groups) {
  const std::size_t g_count = s.weights.size();
  PERSONAS_CHECK(g_count >= 1 && s.spreads.size() == g_count && s.d >= 1 && first >= 0 && count >= 0, internal,
                 "planted blobs: {} weights, {} spreads, d {}", g_count, s.spreads.size(), s.d);
  const int d = s.d;
  std::vector<double> centres(g_count * static_cast<std::size_t>(d));
  for (std::size_t j = 0; j < centres.size(); ++j) centres[j] = s.separation * normal(s.seed, 1, j);
  const double total = std::accumulate(s.weights.begin(), s.weights.end(), 0.0);
  std::vector<float> rows(static_cast<std::size_t>(count) * d);
  if (groups) groups->assign(static_cast<std::size_t>(count), 0);
  std::vector<double> x(static_cast<std::size_t>(d));
  for (std::int64_t r = 0; r < count; ++r) {
    const auto i = static_cast<std::uint64_t>(first + r);
    const double u = hash_uniform(s.seed, 2, i) * total;
    std::size_t g = 0;
    for (double edge = s.weights[0]; g + 1 < g_count && u >= edge; edge += s.weights[++g]) {
    }
    double norm2 = 0.0;
    for (int t = 0; t < d; ++t) {
      x[static_cast<std::size_t>(t)] = centres[g * d + static_cast<std::size_t>(t)] +
                                       s.spreads[g] * normal(s.seed, 3, i * static_cast<std::uint64_t>(d) + static_cast<std::uint64_t>(t));
      norm2 += x[static_cast<std::size_t>(t)] * x[static_cast<std::size_t>(t)];
    }
    const double scale = s.normalize && norm2 > 0.0 ? 1.0 / std::sqrt(norm2) : 1.0;
    for (int t = 0; t < d; ++t) rows[static_cast<std::size_t>(r) * d + static_cast<std::size_t>(t)] = static_cast<float>(x[static_cast<std::size_t>(t)] * scale);
    if (groups) (*groups)[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(g);
  }
  return rows;
}

}  // namespace personas
