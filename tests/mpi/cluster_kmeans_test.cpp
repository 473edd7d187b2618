// k-means over 1, 2 and 3 ranks gives the same bits as one process: every rank
// builds the same data, clusters its block with the world communicator, and
// compares with a one-process run over all rows (LocalComm) that it does itself.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>
#include <random>

#include "cluster/choose_k.h"
#include "cluster/cluster_metrics.h"
#include "cluster/kmeans.h"
#include "cluster/planted_blobs.h"
#include "comm/sharding.h"
#include "mpi/mpi_test_env.h"

namespace personas {
namespace {

std::vector<float> blobs(std::int64_t n, int k, int d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.5);
  std::uniform_real_distribution<double> centre(-4.0, 4.0);
  std::vector<double> centres(static_cast<std::size_t>(k) * d);
  for (auto& c : centres) c = centre(rng);
  std::vector<float> x;
  for (std::int64_t i = 0; i < n; ++i)
    for (int t = 0; t < d; ++t)
      x.push_back(static_cast<float>(centres[static_cast<std::size_t>((i * 7 % k) * d + t)] + noise(rng)));
  return x;
}

std::vector<std::int32_t> gather_labels(Comm& comm, const std::vector<std::int32_t>& local) {
  std::vector<std::byte> send(local.size() * sizeof(std::int32_t));
  std::memcpy(send.data(), local.data(), send.size());
  std::vector<std::int32_t> all;
  for (const auto& part : comm.allgatherv(send)) {
    const std::size_t at = all.size();
    all.resize(at + part.size() / sizeof(std::int32_t));
    std::memcpy(all.data() + at, part.data(), part.size());
  }
  return all;
}

class ClusterRanks : public ::testing::TestWithParam<std::tuple<KMeansInit, bool>> {};

TEST_P(ClusterRanks, SameResultAsOneProcess) {
  auto& comm = testing::world();
  omp_set_num_threads(1);  // ranks may outnumber cores (busy-waiting threads would crawl)
  const auto [init, spherical] = GetParam();
  const std::int64_t n = 1001;  // not divisible by 2 or 3
  const int d = 7, k = 6;
  const auto x = blobs(n, 5, d, 42);
  KMeansOptions o;
  o.k = k;
  o.init = init;
  o.spherical = spherical;
  o.seed = 99;
  o.n_redo = 2;
  o.max_iter = 50;
  const auto [begin, end] = block_range(n, comm.rank(), comm.size());
  const auto dist = kmeans_fit(comm, x.data() + begin * d, end - begin, d, begin, o, cpu_assign_fn());
  auto local_comm = make_local_comm();
  const auto one = kmeans_fit(*local_comm, x.data(), n, d, 0, o, cpu_assign_fn());

  EXPECT_EQ(dist.inertia, one.inertia);  // bit for bit
  EXPECT_EQ(dist.centroids, one.centroids);
  EXPECT_EQ(dist.initial_centroids, one.initial_centroids);
  EXPECT_EQ(dist.sizes, one.sizes);
  EXPECT_EQ(dist.iterations, one.iterations);
  EXPECT_EQ(dist.redo, one.redo);
  EXPECT_EQ(gather_labels(comm, dist.labels), one.labels);
  ASSERT_EQ(dist.history.size(), one.history.size());
  for (std::size_t i = 0; i < dist.history.size(); ++i) EXPECT_EQ(dist.history[i].objective, one.history[i].objective);
}

INSTANTIATE_TEST_SUITE_P(Inits, ClusterRanks,
                         ::testing::Values(std::make_tuple(KMeansInit::parallel, false),
                                           std::make_tuple(KMeansInit::plus_plus, false),
                                           std::make_tuple(KMeansInit::random, false),
                                           std::make_tuple(KMeansInit::parallel, true)));

TEST(ClusterRanksEmpty, SplitOfEmptyClustersIsLayoutIndependent) {
  // Start with two centroids far from all data: both empty after the first
  // assignment, re-seeded with the farthest points.
  auto& comm = testing::world();
  omp_set_num_threads(1);
  const std::int64_t n = 301;
  const int d = 3;
  const auto x = blobs(n, 3, d, 7);
  KMeansOptions o;
  o.k = 4;
  o.initial_centroids = {0, 0, 0, 1, 1, 1, 1000, 1000, 1000, -1000, -1000, -1000};
  o.max_iter = 30;
  const auto [begin, end] = block_range(n, comm.rank(), comm.size());
  const auto dist = kmeans_fit(comm, x.data() + begin * d, end - begin, d, begin, o, cpu_assign_fn());
  auto local_comm = make_local_comm();
  const auto one = kmeans_fit(*local_comm, x.data(), n, d, 0, o, cpu_assign_fn());
  ASSERT_FALSE(one.history.empty());
  EXPECT_EQ(one.history[0].n_split, 2);
  EXPECT_EQ(dist.history[0].n_split, 2);
  EXPECT_EQ(dist.inertia, one.inertia);
  EXPECT_EQ(dist.centroids, one.centroids);
  EXPECT_EQ(gather_labels(comm, dist.labels), one.labels);
  for (auto s : one.sizes) EXPECT_GT(s, 0);
}

// k = auto: restarts, the warm starts going up (extend_centroids), the merge
// pass going down and the silhouettes give the same curve, choice and labels
// for any rank count. Planted blobs of unequal size, where the passes matter.
TEST(ClusterRanksChooseK, SameCurveAndChoiceAsOneProcess) {
  auto& comm = testing::world();
  omp_set_num_threads(1);
  PlantedBlobs spec;
  spec.n = 601;
  spec.d = 16;
  const auto x = planted_blob_rows(spec, 0, spec.n);
  for (const bool spherical : {true, false}) {
    ClusterConfig cc;
    cc.k_min = 2;
    cc.k_max = 8;
    cc.spherical = spherical;
    cc.silhouette_sample = 300;
    const auto [begin, end] = block_range(spec.n, comm.rank(), comm.size());
    const auto dist = cluster_with_k_choice(comm, x.data() + begin * spec.d, end - begin, spec.d, begin, cc, 77,
                                            cpu_assign_fn());
    auto local_comm = make_local_comm();
    const auto one = cluster_with_k_choice(*local_comm, x.data(), spec.n, spec.d, 0, cc, 77, cpu_assign_fn());
    ASSERT_EQ(dist.curve.size(), one.curve.size());
    for (std::size_t i = 0; i < one.curve.size(); ++i) {
      EXPECT_EQ(dist.curve[i].inertia, one.curve[i].inertia) << "k = " << one.curve[i].k;
      EXPECT_EQ(dist.curve[i].iterations, one.curve[i].iterations) << "k = " << one.curve[i].k;
      EXPECT_NEAR(dist.curve[i].silhouette, one.curve[i].silhouette, 1e-9) << "k = " << one.curve[i].k;
      if (i > 0) {
        EXPECT_LT(one.curve[i].inertia, one.curve[i - 1].inertia) << "k = " << one.curve[i].k;
      }
    }
    EXPECT_EQ(dist.chosen_k, one.chosen_k);
    EXPECT_EQ(dist.result.centroids, one.result.centroids);
    EXPECT_EQ(gather_labels(comm, dist.result.labels), one.result.labels);
  }
}

}  // namespace
}  // namespace personas
