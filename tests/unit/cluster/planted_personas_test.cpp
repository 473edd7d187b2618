// Planted personas of the synthetic generator (data/synthetic.h, the code
// behind `personas synth`) are recovered by k-means on the behaviour features:
// adjusted Rand index >= 0.9 on a clean synthetic set. "Clean" = rating noise
// 0.2 (the generator's default is 0.55) and 80..160 ratings per user; measured
// ARI 0.97 at k = 5 and k = 5 chosen by silhouette (at noise 0.55: ARI 0.92 at
// k = 5, silhouette picks 4).
#include <gtest/gtest.h>

#include <cstdio>

#include "cluster/choose_k.h"
#include "cluster/cluster_metrics.h"
#include "cluster/kmeans.h"
#include "comm/comm.h"
#include "data/synthetic.h"
#include "embed/behavior_features.h"

namespace personas {
namespace {

Dataset clean_synthetic(int n_users, int n_personas, std::uint64_t seed) {
  DataConfig config;
  config.source = DataSource::synthetic;
  config.n_users = n_users;
  config.synth_personas = n_personas;
  config.synth_items = 800;
  config.synth_noise = 0.2;
  config.min_ratings = 80;
  config.max_ratings = 160;
  const SynthModel model = make_synth_model(config, seed);
  Dataset ds;
  ds.source = "synthetic";
  ds.genre_names = model.genre_names;
  ds.items = model.items;
  ds.n_users_total = n_users;
  SynthGenerator generator(model, config, seed);
  generator.generate(0, n_users, ds.users, ds.interactions);
  // Item statistics over the training period (what prepare/synth store).
  std::vector<double> sum(ds.items.size(), 0.0);
  for (const auto& u : ds.users)
    for (const auto& it : ds.train_of(u)) sum[static_cast<std::size_t>(it.item)] += it.rating, ++ds.items[static_cast<std::size_t>(it.item)].train_count;
  for (std::size_t i = 0; i < ds.items.size(); ++i)
    ds.items[i].train_mean = ds.items[i].train_count > 0 ? sum[i] / ds.items[i].train_count : 0.0;
  return ds;
}

TEST(PlantedPersonas, RecoveredFromBehaviourFeatures) {
  const int n_personas = 5, n_users = 600;
  const Dataset ds = clean_synthetic(n_users, n_personas, 2024);
  auto comm = make_local_comm();
  const auto x = behavior_features(ds, *comm);
  const int d = behavior_dim(ds);
  KMeansOptions o;
  o.k = n_personas;
  o.n_redo = 5;
  o.seed = 3;
  o.spherical = true;
  const auto r = kmeans_fit(*comm, x.data(), n_users, d, 0, o, cpu_assign_fn());
  std::vector<std::int32_t> truth;
  for (const auto& u : ds.users) truth.push_back(u.true_persona);
  const double ari = adjusted_rand_index(r.labels, truth);
  std::printf("planted personas: ARI %.4f with k = %d\n", ari, n_personas);
  EXPECT_GE(ari, 0.9);

  // The choice of k over 2..8 by silhouette, reported (and checked to be sane).
  ClusterConfig cc;
  cc.k = "auto";
  cc.k_min = 2;
  cc.k_max = 8;
  cc.select = KSelect::silhouette;
  cc.n_redo = 3;
  const auto choice = cluster_with_k_choice(*comm, x.data(), n_users, d, 0, cc, 5, cpu_assign_fn());
  std::printf("choice of k by silhouette: %d (planted %d); ARI %.4f\n", choice.chosen_k, n_personas,
              adjusted_rand_index(choice.result.labels, truth));
  EXPECT_EQ(choice.chosen_k, n_personas);
  EXPECT_GE(adjusted_rand_index(choice.result.labels, truth), 0.9);
  EXPECT_EQ(choice.curve.size(), 7u);
  for (std::size_t i = 1; i < choice.curve.size(); ++i)
    EXPECT_LE(choice.curve[i].inertia, choice.curve[i - 1].inertia * 1.05);
}

}  // namespace
}  // namespace personas
