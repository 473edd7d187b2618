// Inertia within 1% of scikit-learn's KMeans from the same initial centroids and
// the same number of Lloyd iterations (reference made by
// tools/sklearn_kmeans_reference.py with Debian's python3-sklearn, committed).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster/cluster_metrics.h"
#include "cluster/kmeans.h"
#include "comm/comm.h"
#include "core/fs.h"
#include "support/test_support.h"

namespace personas {
namespace {

TEST(SklearnParity, InertiaWithinOnePercent) {
  const auto path = testing::source_dir() / "tests/unit/cluster/sklearn_reference.json";
  const auto doc = nlohmann::json::parse(read_file(path));
  ASSERT_GE(doc["cases"].size(), 3u);
  auto comm = make_local_comm();
  for (const auto& c : doc["cases"]) {
    const int d = c["d"].get<int>();
    std::vector<float> x;
    for (double v : c["points"]) x.push_back(static_cast<float>(v));
    KMeansOptions o;
    o.k = c["k"].get<int>();
    o.max_iter = c["max_iter"].get<int>();
    o.tol = 0;
    for (double v : c["initial_centroids"]) o.initial_centroids.push_back(static_cast<float>(v));
    const auto r = kmeans_fit(*comm, x.data(), static_cast<std::int64_t>(x.size()) / d, d, 0, o, cpu_assign_fn());
    const double reference = c["inertia"].get<double>();
    EXPECT_NEAR(r.inertia, reference, 0.01 * reference) << c["name"];
    const auto sk_labels = c["labels"].get<std::vector<std::int32_t>>();
    EXPECT_GE(adjusted_rand_index(r.labels, sk_labels), 0.99) << c["name"];
    std::printf("%s: ours %.6f, scikit-learn %.6f (relative difference %.2e)\n",
                c["name"].get<std::string>().c_str(), r.inertia, reference, std::fabs(r.inertia - reference) / reference);
  }
}

}  // namespace
}  // namespace personas
