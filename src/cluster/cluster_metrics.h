// Quality measures for a clustering: adjusted Rand index (against planted
// labels), silhouette (on a sample gathered to every rank), the within-cluster
// sum of squares, and the kneedle elbow of an inertia curve.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "comm/comm.h"

namespace personas {

// Hubert & Arabie's adjusted Rand index of two labelings of the same points
// (labels are any non-negative ints). 1 = identical partitions, ~0 = chance.
double adjusted_rand_index(std::span<const std::int32_t> a, std::span<const std::int32_t> b);

// Mean silhouette of points [n, d] with labels (Euclidean, like scikit-learn's
// silhouette_score): s(i) = (b - a) / max(a, b), a = mean distance to its own
// cluster, b = lowest mean distance to another cluster; s = 0 for singletons.
// Rows of the sum are split over `comm` (pass a local comm for one process);
// the points and labels must be the same on every rank. Pairwise distances
// come from sgemm in blocks. Returns 0 when fewer than 2 clusters are used.
double silhouette_score(Comm& comm, std::span<const float> points, int d, std::span<const std::int32_t> labels);

// Within-cluster sum of squares of a partition about its cluster means: the
// Euclidean k-means objective of the labels (what scikit-learn's inertia_ is),
// whatever made them (spherical k-means too). Collective: points [n_local, d]
// and labels (0..k-1) are this rank's rows. Double sums (a measure for
// comparisons, not bit-identical across rank counts).
double within_cluster_sse(Comm& comm, std::span<const float> points, int d, std::span<const std::int32_t> labels,
                          int k);

// Kneedle (Satopaa et al. 2011) for a decreasing convex curve such as inertia
// against k: x and y are scaled to [0, 1] and the knee is the point furthest
// below the straight line from the first to the last point. Returns the index
// of the knee, or -1 when no point lies below that line (no elbow).
int kneedle_elbow(std::span<const double> x, std::span<const double> y);

}  // namespace personas
