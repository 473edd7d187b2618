// Clustering with the choice of k: k-means for every k in [k_min, k_max] (or
// the fixed k), inertia and mean silhouette per k (the silhouette on a sample
// of cluster.silhouette_sample rows drawn by seed, gathered to every rank and
// split over ranks), then the elbow (kneedle on inertia) or the best silhouette.
// The fits over k help each other so the inertia curve falls at every k (an
// elbow on a curve that rises and falls with the luck of the restarts is
// meaningless): going up, each k also starts from k - 1's centroids plus one
// greedy k-means++ centre; going down, from k + 1's with the closest pair
// merged (Ward). Every k keeps its lowest inertia.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/cluster_config.h"
#include "cluster/kmeans.h"
#include "comm/comm.h"

namespace personas {

struct KCurvePoint {
  int k = 0;
  double inertia = 0.0;
  double silhouette = 0.0;
  int iterations = 0;
  double seconds = 0.0;
};

struct ClusterChoice {
  KMeansResult result;             // for the chosen k
  int chosen_k = 0;
  std::string reason;              // how k was chosen (for the report)
  std::vector<KCurvePoint> curve;  // one point per k tried
  std::int64_t silhouette_rows = 0;
};

// Collective. points: this rank's [n_local, d] rows, global rows [first, first + n_local).
ClusterChoice cluster_with_k_choice(Comm& comm, const float* points, std::int64_t n_local, int d, std::int64_t first,
                                    const ClusterConfig& config, std::uint64_t seed, const KMeansAssignFn& assign,
                                    bool assign_in_threads = true);

// KMeansOptions from [cluster] for a given k.
KMeansOptions kmeans_options(const ClusterConfig& config, int k, std::uint64_t seed);

}  // namespace personas
