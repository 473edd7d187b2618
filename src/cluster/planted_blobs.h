// Planted clusters for checking k-means quality (tests/unit/cluster, bench/
// kmeans_quality.cpp and the scikit-learn fixture made from its output):
// embedding-like vectors in groups of unequal size and spread, the shape on
// which k-means||, k-means++ and restarts were seen to land in a bad optimum
// (issue 18: 2,000 vectors, 64 dimensions, 5 groups).
//
// Row i is a pure function of (seed, i), so every rank can make its own block
// and any rank count sees the same rows:
//   centre g, coordinate t = separation * N(seed, 1, g*d + t)
//   group of row i         = the weight interval holding U(seed, 2, i)
//   row i, coordinate t    = centre[group][t] + spread[group] * N(seed, 3, i*d + t)
// then (normalize) scaled to unit length in double and rounded to float. U is
// hash_uniform (kmeans_init.h), N(s, p, j) = sqrt(-2 ln U(s, p, 2j)) cos(2 pi U(s, p, 2j+1)).
#pragma once

#include <cstdint>
#include <vector>

namespace personas {

struct PlantedBlobs {
  std::int64_t n = 2000;
  int d = 64;
  std::vector<double> weights = {0.34, 0.26, 0.18, 0.13, 0.09};  // group shares (normalised)
  std::vector<double> spreads = {1.0, 0.6, 1.4, 0.8, 1.2};       // noise per coordinate, per group
  double separation = 1.0;                                         // scale of the centres
  bool normalize = true;                                           // unit rows, as embeddings are
  std::uint64_t seed = 1;
};

// Rows [first, first + count) as [count, d]; `groups` (optional) gets each row's planted group.
std::vector<float> planted_blob_rows(const PlantedBlobs& spec, std::int64_t first, std::int64_t count,
                                     std::vector<std::int32_t>* groups = nullptr);

}  // namespace personas
