#include <gtest/gtest.h>

#include <random>

#include "backend/cpu/kmeans_assign.h"
#include "cluster/kmeans.h"
#include "comm/comm.h"
#include "core/errors.h"

namespace personas {
namespace {

KMeansResult fit(const std::vector<float>& x, int d, KMeansOptions o) {
  auto comm = make_local_comm();
  return kmeans_fit(*comm, x.data(), static_cast<std::int64_t>(x.size()) / d, d, 0, o, cpu_assign_fn());
}

std::vector<float> gaussian_blobs(int n_per, int k, int d, double spread, std::uint64_t seed,
                                  std::vector<int>* truth = nullptr) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, spread);
  std::uniform_real_distribution<double> centre(-5.0, 5.0);
  std::vector<double> centres(static_cast<std::size_t>(k) * d);
  for (auto& c : centres) c = centre(rng);
  std::vector<float> x;
  for (int i = 0; i < n_per * k; ++i) {
    const int c = i % k;
    if (truth) truth->push_back(c);
    for (int t = 0; t < d; ++t) x.push_back(static_cast<float>(centres[static_cast<std::size_t>(c) * d + t] + noise(rng)));
  }
  return x;
}

TEST(KMeansAssign, MatchesBruteForceWithTiesToLowestIndex) {
  const std::vector<float> centroids = {0, 0, 2, 0, 2, 0, 1, 1};  // centroids 1 and 2 are equal
  const std::vector<float> points = {1, 0, 2, 0.1f, 0, 0, 1.9f, 0.2f, 1, 1};
  std::vector<std::int32_t> labels(5);
  std::vector<float> dist(5);
  cpu_kmeans_assign(points.data(), 5, centroids.data(), 4, 2, labels.data(), dist.data());
  // (1,0) is 1 from centroids 0, 1, 2 and 1 from 3: lowest wins.
  EXPECT_EQ(labels, (std::vector<std::int32_t>{0, 1, 0, 1, 3}));
  EXPECT_FLOAT_EQ(dist[0], 1.0f);
  EXPECT_FLOAT_EQ(dist[1], 0.01f);
  EXPECT_FLOAT_EQ(dist[2], 0.0f);
  EXPECT_FLOAT_EQ(dist[4], 0.0f);
}

TEST(KMeansAssign, AgreesWithDirectComputationOnRandomData) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  const int n = 3000, k = 37, d = 19;
  std::vector<float> x(static_cast<std::size_t>(n) * d), c(static_cast<std::size_t>(k) * d);
  for (auto& v : x) v = g(rng);
  for (auto& v : c) v = g(rng);
  std::vector<std::int32_t> labels(n);
  std::vector<float> dist(n);
  cpu_kmeans_assign(x.data(), n, c.data(), k, d, labels.data(), dist.data());
  for (int i = 0; i < n; ++i) {
    double best = 1e300;
    int arg = 0;
    for (int j = 0; j < k; ++j) {
      const double e = exact_squared_distance(&x[static_cast<std::size_t>(i) * d], &c[static_cast<std::size_t>(j) * d], d);
      if (e < best) best = e, arg = j;
    }
    ASSERT_EQ(labels[static_cast<std::size_t>(i)], arg) << "row " << i;
    ASSERT_FLOAT_EQ(dist[static_cast<std::size_t>(i)], static_cast<float>(best));
  }
}

// The register-tiled kernel handles groups of 16 and 8 centroids and blocks of
// six rows: every shape around those edges must give brute-force results, and
// a row's result must not depend on where it sits in the block.
TEST(KMeansAssign, EdgeShapesMatchBruteForceAndRowsAreIndependent) {
  std::mt19937 rng(11);
  std::normal_distribution<float> g;
  for (const int k : {1, 5, 8, 9, 16, 17, 24, 37})
    for (const int d : {1, 7, 16, 19, 256})
      for (const int n : {1, 5, 6, 7, 301}) {
        std::vector<float> x(static_cast<std::size_t>(n) * d), c(static_cast<std::size_t>(k) * d);
        for (auto& v : x) v = g(rng);
        for (auto& v : c) v = g(rng);
        std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
        std::vector<float> dist(static_cast<std::size_t>(n));
        cpu_kmeans_assign(x.data(), n, c.data(), k, d, labels.data(), dist.data());
        for (int i = 0; i < n; ++i) {
          const float* xi = &x[static_cast<std::size_t>(i) * d];
          double best = 1e300;
          int arg = 0;
          for (int j = 0; j < k; ++j) {
            const double e = exact_squared_distance(xi, &c[static_cast<std::size_t>(j) * d], d);
            if (e < best) best = e, arg = j;
          }
          ASSERT_EQ(labels[static_cast<std::size_t>(i)], arg) << "k " << k << " d " << d << " n " << n << " row " << i;
          ASSERT_EQ(dist[static_cast<std::size_t>(i)], static_cast<float>(best));
          std::int32_t alone_label = -1;
          float alone_dist = -1;
          cpu_kmeans_assign(xi, 1, c.data(), k, d, &alone_label, &alone_dist);
          ASSERT_EQ(alone_label, labels[static_cast<std::size_t>(i)]);
          ASSERT_EQ(alone_dist, dist[static_cast<std::size_t>(i)]);
        }
      }
}

// exact_squared_distance is defined as sixteen partial sums s[t mod 16]
// combined as ((s0+s4)+(s8+s12)) + ... (cuda/kmeans.cu does the same); the
// AVX2 path must give those bits for every length.
TEST(KMeansAssign, ExactDistanceHasTheDefinedSummationOrder) {
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0.0f, 3.0f);
  for (const int d : {1, 3, 15, 16, 17, 31, 64, 100, 256, 1024}) {
    std::vector<float> a(static_cast<std::size_t>(d)), b(static_cast<std::size_t>(d));
    for (auto& v : a) v = g(rng);
    for (auto& v : b) v = g(rng);
    double s[16] = {};
    for (int t = 0; t < d; ++t) {
      const double e = static_cast<double>(a[static_cast<std::size_t>(t)]) - b[static_cast<std::size_t>(t)];
      s[t % 16] += e * e;
    }
    double v[4];
    for (int l = 0; l < 4; ++l) v[l] = (s[l] + s[4 + l]) + (s[8 + l] + s[12 + l]);
    const double expected = (v[0] + v[1]) + (v[2] + v[3]);
    EXPECT_EQ(exact_squared_distance(a.data(), b.data(), d), expected) << "d " << d;
  }
}

// Six points in two obvious groups; worked out by hand:
//   group A = (0,0), (0,2), (2,0)  mean (2/3, 2/3)
//   group B = (10,10), (10,12), (12,10)  mean (32/3, 32/3)
//   each point's squared distance to its mean: (0,0): 8/9; (0,2): 4/9 + 16/9 = 20/9; (2,0): 20/9
//   inertia = 2 * (8 + 20 + 20) / 9 = 96/9 = 10.6667
TEST(KMeans, HandComputedCase) {
  const std::vector<float> x = {0, 0, 10, 10, 0, 2, 10, 12, 2, 0, 12, 10};
  for (const KMeansInit init : {KMeansInit::random, KMeansInit::plus_plus, KMeansInit::parallel}) {
    KMeansOptions o;
    o.k = 2;
    o.init = init;
    o.seed = 7;
    o.max_iter = 10;
    const auto r = fit(x, 2, o);
    // centroids are float: 2/3 is rounded, so the inertia is exact to float precision
    EXPECT_NEAR(r.inertia, 96.0 / 9.0, 1e-5) << to_string(init);
    EXPECT_EQ(r.labels[0], r.labels[2]);
    EXPECT_EQ(r.labels[0], r.labels[4]);
    EXPECT_EQ(r.labels[1], r.labels[3]);
    EXPECT_EQ(r.labels[1], r.labels[5]);
    EXPECT_NE(r.labels[0], r.labels[1]);
    EXPECT_EQ(r.sizes, (std::vector<std::int64_t>{3, 3}));
    const int a = r.labels[0];
    EXPECT_NEAR(r.centroids[static_cast<std::size_t>(a) * 2], 2.0 / 3.0, 1e-6);
    EXPECT_NEAR(r.centroids[static_cast<std::size_t>(1 - a) * 2 + 1], 32.0 / 3.0, 1e-5);
  }
}

TEST(KMeans, HandComputedWithGivenCentroids) {
  // Points on a line 0, 2, 8, 10, 12; start at centroids 0 and 2.
  //   assign 1: {0} {2,8,10,12}: objective 0+0+36+64+100 = 200; means 0 and 8
  //   assign 2: {0,2} {8,10,12}: objective 0+4+0+4+16 = 24;      means 1 and 10
  //   assign 3: same labels:     objective 1+1+4+0+4 = 10;       means 1 and 10 again
  //   assign 4: objective 10, no relative change -> converged (the update is skipped)
  const std::vector<float> x = {0, 2, 8, 10, 12};
  KMeansOptions o;
  o.k = 2;
  o.initial_centroids = {0, 2};
  o.max_iter = 20;
  const auto r = fit(x, 1, o);
  EXPECT_EQ(r.labels, (std::vector<std::int32_t>{0, 0, 1, 1, 1}));
  EXPECT_DOUBLE_EQ(r.inertia, 10.0);
  EXPECT_EQ(r.centroids, (std::vector<float>{1.0f, 10.0f}));
  EXPECT_EQ(r.distances, (std::vector<float>{1, 1, 4, 0, 4}));
  ASSERT_EQ(r.history.size(), 4u);
  EXPECT_DOUBLE_EQ(r.history[3].objective, 10.0);
  EXPECT_DOUBLE_EQ(r.history[0].objective, 200.0);
  EXPECT_DOUBLE_EQ(r.history[1].objective, 24.0);
  EXPECT_DOUBLE_EQ(r.history[2].objective, 10.0);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.sizes, (std::vector<std::int64_t>{2, 3}));
}

TEST(KMeans, ObjectiveNeverIncreases) {
  const int d = 6;
  const auto x = gaussian_blobs(200, 7, d, 2.5, 11);
  for (const KMeansInit init : {KMeansInit::random, KMeansInit::plus_plus, KMeansInit::parallel}) {
    KMeansOptions o;
    o.k = 9;
    o.init = init;
    o.tol = 0;
    o.max_iter = 40;
    const auto r = fit(x, d, o);
    ASSERT_EQ(r.history.size(), 40u);
    for (std::size_t i = 1; i < r.history.size(); ++i)
      EXPECT_LE(r.history[i].objective, r.history[i - 1].objective * (1 + 1e-12)) << to_string(init) << " iteration " << i;
    EXPECT_LE(r.inertia, r.history.back().objective * (1 + 1e-12));
  }
}

TEST(KMeans, RestartsKeepTheBest) {
  const int d = 4;
  const auto x = gaussian_blobs(50, 6, d, 1.0, 5);
  KMeansOptions o;
  o.k = 6;
  o.init = KMeansInit::random;
  o.n_redo = 1;
  const auto one = fit(x, d, o);
  o.n_redo = 6;
  const auto six = fit(x, d, o);
  EXPECT_LE(six.inertia, one.inertia);
}

TEST(KMeans, SphericalGivesUnitCentroids) {
  const int d = 5;
  const auto x = gaussian_blobs(40, 3, d, 0.5, 9);
  KMeansOptions o;
  o.k = 3;
  o.spherical = true;
  const auto r = fit(x, d, o);
  for (int c = 0; c < 3; ++c) {
    double s = 0;
    for (int t = 0; t < d; ++t) s += std::pow(r.centroids[static_cast<std::size_t>(c * d + t)], 2);
    EXPECT_NEAR(s, 1.0, 1e-5);
  }
}

TEST(KMeansDegenerate, KLargerThanPointsIsAConfigError) {
  const std::vector<float> x = {1, 2, 3};
  KMeansOptions o;
  o.k = 4;
  try {
    fit(x, 1, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_NE(std::string(e.what()).find("cluster.k = 4"), std::string::npos) << e.what();
  }
}

TEST(KMeansDegenerate, IdenticalPointsGiveOneClusterAndEmptyOthers) {
  const std::vector<float> x(20 * 3, 1.5f);
  for (const KMeansInit init : {KMeansInit::random, KMeansInit::plus_plus, KMeansInit::parallel}) {
    KMeansOptions o;
    o.k = 3;
    o.init = init;
    const auto r = fit(x, 3, o);
    EXPECT_EQ(r.inertia, 0.0);
    EXPECT_EQ(r.sizes, (std::vector<std::int64_t>{20, 0, 0})) << to_string(init);
    for (auto l : r.labels) EXPECT_EQ(l, 0);
  }
}

TEST(KMeansDegenerate, KAboveDistinctPointsSplitsWhatItCan) {
  // Two distinct points, each twice; k = 3: two clusters of 2, one empty, inertia 0.
  const std::vector<float> x = {0, 0, 5, 5};
  KMeansOptions o;
  o.k = 3;
  o.init = KMeansInit::random;
  const auto r = fit(x, 1, o);
  EXPECT_EQ(r.inertia, 0.0);
  std::vector<std::int64_t> sizes = r.sizes;
  std::sort(sizes.begin(), sizes.end());
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{0, 2, 2}));
}

TEST(KMeansDegenerate, SinglePoint) {
  const std::vector<float> x = {3, 4};
  KMeansOptions o;
  o.k = 1;
  const auto r = fit(x, 2, o);
  EXPECT_EQ(r.labels, (std::vector<std::int32_t>{0}));
  EXPECT_EQ(r.inertia, 0.0);
  EXPECT_EQ(r.centroids, x);
}

TEST(KMeansDegenerate, NoPointsAndNonFiniteValuesAreDataErrors) {
  KMeansOptions o;
  o.k = 1;
  EXPECT_THROW(fit({}, 2, o), Error);
  const std::vector<float> x = {1, std::numeric_limits<float>::quiet_NaN()};
  try {
    fit(x, 1, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
  }
}

}  // namespace
}  // namespace personas
