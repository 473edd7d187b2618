// cluster.init: how k-means picks its starting centroids (kmeans_init.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace personas {

enum class KMeansInit { parallel, plus_plus, random };
// The words of the configuration: "kmeans||", "kmeans++", "random".
const std::vector<std::pair<std::string, KMeansInit>>& kmeans_init_names();
std::string to_string(KMeansInit init);

}  // namespace personas
