#include "cluster/cluster_config.h"

#include <charconv>

namespace personas {

int ClusterConfig::fixed_k() const {
  if (k == "auto") return 0;
  int value = 0;
  const auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), value);
  return (ec == std::errc() && end == k.data() + k.size()) ? value : -1;
}

const std::vector<std::pair<std::string, KSelect>>& k_select_names() {
  static const std::vector<std::pair<std::string, KSelect>> names = {{"elbow", KSelect::elbow},
                                                                     {"silhouette", KSelect::silhouette}};
  return names;
}

std::string to_string(KSelect select) { return choice_word(k_select_names(), select); }

void ClusterConfig::describe(ConfigSchema& s) {
  s.add("cluster.k", &k, "number of personas, or 'auto' to choose it in [k_min, k_max] by cluster.select");
  s.add("cluster.k_min", &k_min, "smallest k tried when cluster.k = auto");
  s.add("cluster.k_max", &k_max, "largest k tried when cluster.k = auto");
  s.add_choice("cluster.select", &select, k_select_names(),
               "how k = auto picks: kneedle elbow of the inertia curve, or the highest mean silhouette");
  s.add_choice("cluster.init", &init, kmeans_init_names(), "k-means initialisation");
  s.add("cluster.max_iter", &max_iter, "Lloyd iterations per restart");
  s.add("cluster.tol", &tol, "stop when the objective improves by less than this fraction (0 = always max_iter)");
  s.add("cluster.n_redo", &n_redo, "k-means restarts with derived seeds; the lowest inertia is kept");
  s.add("cluster.spherical", &spherical, "cosine k-means: vectors and centroids scaled to unit length");
  s.add("cluster.init_rounds", &init_rounds, "k-means|| sampling rounds");
  s.add("cluster.oversampling", &oversampling, "k-means|| expected candidates per round, as a multiple of k");
  s.add("cluster.silhouette_sample", &silhouette_sample,
        "users (sampled with the seed) on which the silhouette is computed; all users when fewer");
  s.add("cluster.describe_top", &describe_top, "most distinctive genres and words listed per persona");
  s.add("cluster.describe_sample", &describe_sample,
        "profiles read for the description words: a seeded sample of about this many users (0 = every user; "
        "the profiles are ~8 KB records, 80 GB at 10M users)");
  s.add_check([this](Problems& p) {
    const int fixed = fixed_k();
    if (fixed < 0 || (fixed == 0 && k != "auto"))
      p.add("cluster.k: '{}' is neither 'auto' nor a whole number >= 1", k);
    if (k_min < 1 || k_max < k_min) p.add("cluster.k_min/k_max: need 1 <= k_min <= k_max (got {} and {})", k_min, k_max);
    if (select == KSelect::silhouette && k == "auto" && k_min < 2)
      p.add("cluster.k_min: the silhouette needs k >= 2 (got {})", k_min);
    if (max_iter < 1) p.add("cluster.max_iter: {} must be >= 1", max_iter);
    if (tol < 0) p.add("cluster.tol: {} must be >= 0", tol);
    if (n_redo < 1) p.add("cluster.n_redo: {} must be >= 1", n_redo);
    if (init_rounds < 1) p.add("cluster.init_rounds: {} must be >= 1", init_rounds);
    if (!(oversampling > 0)) p.add("cluster.oversampling: {} must be > 0", oversampling);
    if (silhouette_sample < 2) p.add("cluster.silhouette_sample: {} must be >= 2", silhouette_sample);
    if (describe_top < 1) p.add("cluster.describe_top: {} must be >= 1", describe_top);
    if (describe_sample < 0) p.add("cluster.describe_sample: {} must be >= 0", describe_sample);
  });
}

}  // namespace personas
