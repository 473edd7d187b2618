// k-means does not land in a bad optimum (issue 18): on planted blobs like the
// ones where it did (2,000 unit vectors, 64 dimensions, 5 groups of unequal
// size and spread; cluster/planted_blobs.h), every one of 30 run seeds ends
// within 1% of scikit-learn's best KMeans(n_init=10) inertia, and the inertia
// curve of k = auto falls at every k. Reference: planted_reference.json, made
// by tools/sklearn_planted_reference.py from the rows this generator makes.
// Before the fix (k-means|| reduced by plain weighted k-means++, no warm start
// over k) 1 restart reached the optimum in 10-20 of 30 seeds (worst 1.20x)
// and the default 3 restarts in 25-30 (worst 1.08x).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <map>

#include "cluster/choose_k.h"
#include "cluster/cluster_config.h"
#include "cluster/cluster_metrics.h"
#include "cluster/kmeans.h"
#include "cluster/kmeans_init.h"
#include "cluster/planted_blobs.h"
#include "comm/comm.h"
#include "core/fs.h"
#include "support/test_support.h"
#include "core/hash.h"
#include "core/seed_salts.h"

namespace personas {
namespace {

constexpr int kRunSeeds = 30;

struct PlantedSet {
  std::uint64_t data_seed = 0;
  std::vector<float> rows;
  int d = 0;
  std::int64_t n = 0;
  std::map<int, double> sklearn;  // k -> scikit-learn's best inertia
};

// The committed reference, with the rows regenerated and checked against its checksums.
std::vector<PlantedSet> planted_sets() {
  const auto doc = nlohmann::json::parse(read_file(testing::source_dir() / "tests/unit/cluster/planted_reference.json"));
  std::vector<PlantedSet> sets;
  for (const auto& s : doc["sets"]) {
    PlantedSet set;
    set.data_seed = s["data_seed"].get<std::uint64_t>();
    PlantedBlobs spec;
    spec.seed = set.data_seed;
    spec.n = s["n"].get<std::int64_t>();
    spec.d = s["d"].get<int>();
    set.n = spec.n, set.d = spec.d;
    set.rows = planted_blob_rows(spec, 0, spec.n);
    double sum = 0, squares = 0;
    for (float v : set.rows) sum += v, squares += static_cast<double>(v) * v;
    const double want_sum = s["sum"].get<double>(), want_squares = s["sum_squares"].get<double>();
    EXPECT_NEAR(sum, want_sum, 1e-9 * std::fabs(want_squares)) << "data seed " << set.data_seed;
    EXPECT_NEAR(squares, want_squares, 1e-9 * want_squares) << "data seed " << set.data_seed;
    for (std::size_t t = 0; t < 4; ++t) EXPECT_EQ(set.rows[t], s["first_values"][t].get<float>());
    for (const auto& [k, v] : s["inertia"].items()) set.sklearn[std::stoi(k)] = v.get<double>();
    sets.push_back(std::move(set));
  }
  return sets;
}

std::uint64_t stage_seed(int run_seed) { return hash_chain(static_cast<std::uint64_t>(run_seed), seed_salt::kCluster, 0); }

// Every run seed at the planted k, for the default [cluster] (3 restarts,
// spherical) and for one start (what the initialisation alone achieves), both
// geometries: our partition's sum of squares within 1% of scikit-learn's best.
TEST(KMeansQuality, EveryRunSeedWithinOnePercentOfScikitLearn) {
  auto comm = make_local_comm();
  const auto sets = planted_sets();
  ASSERT_EQ(sets.size(), 3u);
  for (const int n_redo : {ClusterConfig{}.n_redo, 1})
    for (const bool spherical : {true, false}) {
      double worst = 0;
      for (const auto& set : sets) {
        const int k = 5;
        const double reference = set.sklearn.at(k);
        ClusterConfig cc;
        cc.n_redo = n_redo;
        cc.spherical = spherical;
        for (int s = 0; s < kRunSeeds; ++s) {
          const KMeansResult r = kmeans_fit(*comm, set.rows.data(), set.n, set.d, 0, kmeans_options(cc, k, stage_seed(s)),
                                            cpu_assign_fn());
          const double ratio = within_cluster_sse(*comm, set.rows, set.d, r.labels, k) / reference;
          worst = std::max(worst, ratio);
          EXPECT_LE(ratio, 1.01) << "data seed " << set.data_seed << ", run seed " << s << ", n_redo " << n_redo
                                 << (spherical ? ", spherical" : ", euclidean");
        }
      }
      std::printf("n_redo %d, %s: worst ratio to scikit-learn over 3 x %d seeds %.5f\n", n_redo,
                  spherical ? "spherical" : "euclidean", kRunSeeds, worst);
    }
}

// k = auto with the default [cluster]: the inertia falls at every k (the elbow
// is not misled), the elbow finds the planted 5, and with Euclidean k-means
// (where our inertia is scikit-learn's objective) every point of the curve is
// within 1% of scikit-learn's best at that k, for 30 run seeds (10 spherical).
// Before the fix: the curve rose somewhere in some seeds and was up to 7% above
// scikit-learn's (k = 2, 3 and 4).
TEST(KMeansQuality, AutoKCurveFallsAndMatchesScikitLearn) {
  auto comm = make_local_comm();
  const auto sets = planted_sets();
  ASSERT_FALSE(sets.empty());
  const auto& set = sets.front();
  for (const bool spherical : {true, false}) {
    ClusterConfig cc;
    cc.spherical = spherical;
    cc.silhouette_sample = 200;  // the elbow decides here; a small silhouette keeps the test quick
    double worst = 0;
    const int seeds = spherical ? 10 : kRunSeeds;  // about 1 s each
    for (int s = 0; s < seeds; ++s) {
      const ClusterChoice choice =
          cluster_with_k_choice(*comm, set.rows.data(), set.n, set.d, 0, cc, stage_seed(s), cpu_assign_fn());
      ASSERT_EQ(choice.curve.size(), static_cast<std::size_t>(cc.k_max - cc.k_min + 1));
      for (std::size_t i = 1; i < choice.curve.size(); ++i)
        EXPECT_LT(choice.curve[i].inertia, choice.curve[i - 1].inertia)
            << "run seed " << s << ": k = " << choice.curve[i].k << (spherical ? " (spherical)" : "");
      EXPECT_EQ(choice.chosen_k, 5) << "run seed " << s;
      if (!spherical)
        for (const auto& p : choice.curve) {
          const double ratio = p.inertia / set.sklearn.at(p.k);
          worst = std::max(worst, ratio);
          EXPECT_LE(ratio, 1.01) << "run seed " << s << ", k = " << p.k;
        }
    }
    if (!spherical)
      std::printf("auto-K curve, euclidean: worst ratio to scikit-learn over k = %d..%d and %d seeds %.5f\n", cc.k_min,
                  cc.k_max, kRunSeeds, worst);
  }
}

}  // namespace
}  // namespace personas
