// Profile features do not depend on the rank layout: hashed TF-IDF (document
// frequencies allreduced) and behaviour features (exact integer moments) give
// every user the same vector, bit for bit, with 1, 2 or 3 ranks as in one
// process holding everything.
#include <gtest/gtest.h>

#include <string>

#include "comm/sharding.h"
#include "data/synthetic.h"
#include "embed/behavior_features.h"
#include "embed/hashed_tfidf.h"
#include "mpi/mpi_test_env.h"

namespace personas {
namespace {

std::vector<std::string> corpus(int n) {
  const char* words[] = {"drama", "space", "quiet", "family", "war", "comedy", "lasers", "noir", "river", "song"};
  std::vector<std::string> docs;
  for (int i = 0; i < n; ++i) {
    std::string d;
    for (int j = 0; j < 3 + i % 5; ++j) d += std::string(words[(i * 7 + j * 3 + j * j) % 10]) + " ";
    docs.push_back(d);
  }
  return docs;
}

TEST(EmbedRanks, TfidfSameAsOneProcess) {
  auto& comm = testing::world();
  const auto docs = corpus(37);
  const std::vector<std::string> replicated = {"drama about a river", "space war"};
  auto local = make_local_comm();
  HashedTfidfEmbedder whole(128, 2);
  whole.fit(docs, replicated, *local);
  const auto [begin, end] = block_range(static_cast<std::int64_t>(docs.size()), comm.rank(), comm.size());
  const std::vector<std::string> mine(docs.begin() + begin, docs.begin() + end);
  HashedTfidfEmbedder sharded(128, 2);
  sharded.fit(mine, replicated, comm);
  EXPECT_EQ(sharded.table().n_docs, whole.table().n_docs);
  EXPECT_EQ(sharded.table().df, whole.table().df);
  EXPECT_EQ(sharded.embed(mine), whole.embed(mine));
}

Dataset synthetic_block(std::int64_t begin, std::int64_t end, std::int64_t n_users, Comm& comm) {
  DataConfig config;
  config.n_users = static_cast<int>(n_users);
  config.synth_personas = 3;
  config.synth_items = 200;
  config.min_ratings = 20;
  config.max_ratings = 60;
  const SynthModel model = make_synth_model(config, 7);
  Dataset ds;
  ds.genre_names = model.genre_names;
  ds.items = model.items;
  ds.n_users_total = n_users;
  ds.first_user = begin;
  SynthGenerator(model, config, 7).generate(begin, end, ds.users, ds.interactions);
  // Item training means from exact integer sums over all ranks (ratings are whole numbers).
  std::vector<std::int64_t> sums(2 * ds.items.size(), 0);
  for (const auto& u : ds.users)
    for (const auto& it : ds.train_of(u)) {
      sums[static_cast<std::size_t>(it.item)] += static_cast<std::int64_t>(it.rating);
      ++sums[ds.items.size() + static_cast<std::size_t>(it.item)];
    }
  comm.allreduce(std::span<std::int64_t>(sums), ReduceOp::sum);
  for (std::size_t i = 0; i < ds.items.size(); ++i) {
    ds.items[i].train_count = static_cast<std::int32_t>(sums[ds.items.size() + i]);
    ds.items[i].train_mean =
        ds.items[i].train_count > 0 ? static_cast<double>(sums[i]) / ds.items[i].train_count : 0.0;
  }
  return ds;
}

TEST(EmbedRanks, BehaviourFeaturesSameAsOneProcess) {
  auto& comm = testing::world();
  const std::int64_t n = 101;
  auto local = make_local_comm();
  const Dataset whole = synthetic_block(0, n, n, *local);
  const auto all = behavior_features(whole, *local);
  const auto [begin, end] = block_range(n, comm.rank(), comm.size());
  const Dataset mine = synthetic_block(begin, end, n, comm);
  const auto x = behavior_features(mine, comm);
  const auto d = static_cast<std::size_t>(behavior_dim(mine));
  ASSERT_EQ(x.size(), static_cast<std::size_t>(end - begin) * d);
  const std::vector<float> expected(all.begin() + begin * static_cast<std::int64_t>(d),
                                    all.begin() + end * static_cast<std::int64_t>(d));
  EXPECT_EQ(x, expected);
}

}  // namespace
}  // namespace personas
