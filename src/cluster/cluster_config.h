// [cluster]: distributed k-means over the profile embeddings (stage 2,
// docs/clustering.md). Seeds derive from run.seed.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cluster/kmeans_init_kind.h"
#include "core/config_schema.h"

namespace personas {

// cluster.select: how k = auto picks K.
enum class KSelect { elbow, silhouette };
const std::vector<std::pair<std::string, KSelect>>& k_select_names();
std::string to_string(KSelect select);

struct ClusterConfig {
  std::string k = "auto";          // "auto" (choose in [k_min, k_max]) or a number of personas
  int k_min = 2;                   // range searched when k = auto
  int k_max = 12;
  KSelect select = KSelect::elbow;    // elbow (kneedle on inertia) | silhouette (highest mean silhouette)
  KMeansInit init = KMeansInit::parallel;
  int max_iter = 100;              // Lloyd iterations per restart
  double tol = 1e-6;               // stop when the objective improves by less than tol (relative)
  int n_redo = 3;                  // restarts (different seeds); the lowest inertia wins
  bool spherical = true;           // cosine k-means (unit vectors and centroids)
  int init_rounds = 5;             // k-means|| rounds
  double oversampling = 2.0;       // k-means|| candidates per round, times k
  int silhouette_sample = 2000;    // silhouette on this many users (sampled by seed; all when fewer)
  int describe_top = 5;            // genres and words listed per persona
  std::int64_t describe_sample = 20000;  // users whose profiles give the description words (0 = all)

  void describe(ConfigSchema& schema);
  // The fixed k, or 0 for "auto".
  int fixed_k() const;
};

}  // namespace personas
