#include "data/synthetic.h"

#include <gtest/gtest.h>

#include <array>

#include "data/dataset_io.h"
#include "support/test_support.h"
#include "unit/data/fake_comm.h"

namespace personas {
namespace {

DataConfig synth_config(int n_users) {
  DataConfig c;
  c.source = DataSource::synthetic;
  c.n_users = n_users;
  c.min_ratings = 20;
  c.max_ratings = 200;
  c.synth_items = 500;
  c.synth_personas = 4;
  return c;
}

struct Generated {
  std::vector<User> users;
  std::vector<Interaction> rows;
};

Generated generate(const DataConfig& c, std::uint64_t seed, std::vector<std::pair<int, int>> ranges) {
  SynthModel model = make_synth_model(c, seed);
  SynthGenerator gen(model, c, seed);
  Generated g;
  for (auto [b, e] : ranges) {
    std::vector<User> users;
    std::vector<Interaction> rows;
    gen.generate(b, e, users, rows);
    for (auto& u : users) u.first += static_cast<std::int64_t>(g.rows.size());
    g.users.insert(g.users.end(), users.begin(), users.end());
    g.rows.insert(g.rows.end(), rows.begin(), rows.end());
  }
  return g;
}

bool same(const Generated& a, const Generated& b) {
  if (a.users.size() != b.users.size() || a.rows.size() != b.rows.size()) return false;
  for (std::size_t i = 0; i < a.users.size(); ++i) {
    const auto &x = a.users[i], &y = b.users[i];
    if (x.id != y.id || x.true_persona != y.true_persona || x.age != y.age || x.gender != y.gender ||
        x.occupation != y.occupation || x.first != y.first || x.n_train != y.n_train || x.n_test != y.n_test)
      return false;
  }
  for (std::size_t j = 0; j < a.rows.size(); ++j)
    if (a.rows[j].item != b.rows[j].item || a.rows[j].rating != b.rows[j].rating ||
        a.rows[j].timestamp != b.rows[j].timestamp)
      return false;
  return true;
}

TEST(Synthetic, DeterministicWhateverTheChunking) {
  auto c = synth_config(300);
  auto whole = generate(c, 7, {{0, 300}});
  auto pieces = generate(c, 7, {{0, 1}, {1, 150}, {150, 299}, {299, 300}});
  EXPECT_TRUE(same(whole, pieces));
  EXPECT_FALSE(same(whole, generate(c, 8, {{0, 300}})));
}

TEST(Synthetic, UsersLookLikeMovieLens) {
  auto c = synth_config(2000);
  auto g = generate(c, 11, {{0, 2000}});
  std::array<std::int64_t, 6> histogram{};
  std::array<int, 4> persona_count{};
  std::int64_t heavy = 0;
  for (const User& u : g.users) {
    const int n = u.n_train + u.n_test;
    ASSERT_GE(n, 20);
    ASSERT_LE(n, 200);
    heavy += n >= 100;
    ASSERT_GE(u.true_persona, 0);
    ASSERT_LT(u.true_persona, 4);
    ++persona_count[static_cast<std::size_t>(u.true_persona)];
    std::vector<char> seen(500, 0);
    for (auto k = u.first; k < u.first + n; ++k) {
      const auto& x = g.rows[static_cast<std::size_t>(k)];
      ASSERT_FALSE(seen[static_cast<std::size_t>(x.item)]) << "an item rated twice";
      seen[static_cast<std::size_t>(x.item)] = 1;
      if (k > u.first) {
        ASSERT_LT(g.rows[static_cast<std::size_t>(k - 1)].timestamp, x.timestamp);
      }
      ++histogram[static_cast<std::size_t>(x.rating)];
    }
  }
  // Heavy tail: most users near the minimum, some far above it.
  EXPECT_GT(heavy, 20);
  EXPECT_LT(heavy, 600);
  for (int count : persona_count) EXPECT_GT(count, 100);
  // A MovieLens-like histogram: 4 the most common, 1 the rarest, every rating used.
  const double total = static_cast<double>(g.rows.size());
  for (int r = 1; r <= 5; ++r) EXPECT_GT(histogram[r] / total, 0.03) << r;
  EXPECT_GT(histogram[4], histogram[3]);
  EXPECT_GT(histogram[3], histogram[2]);
  EXPECT_GT(histogram[2], histogram[1]);
  EXPECT_GT(histogram[4], histogram[5]);
}

TEST(Synthetic, PersonasArePlantedInTheRatings) {
  // Users of the same persona agree on genres more than users of different ones:
  // compare each user's mean rating per genre with its persona's average profile.
  auto c = synth_config(1200);
  SynthModel model = make_synth_model(c, 3);
  auto g = generate(c, 3, {{0, 1200}});
  const std::size_t G = model.genre_names.size();
  std::vector<std::vector<double>> profile(g.users.size(), std::vector<double>(G, 0));
  for (std::size_t u = 0; u < g.users.size(); ++u) {
    std::vector<double> n(G, 0);
    const User& user = g.users[u];
    for (auto k = user.first; k < user.first + user.n_train + user.n_test; ++k) {
      const auto& x = g.rows[static_cast<std::size_t>(k)];
      for (std::size_t gi = 0; gi < G; ++gi)
        if (model.items[static_cast<std::size_t>(x.item)].genres & (1u << gi)) {
          profile[u][gi] += x.rating;
          n[gi] += 1;
        }
    }
    double mean = 0;
    for (std::size_t gi = 0; gi < G; ++gi) mean += (profile[u][gi] = n[gi] ? profile[u][gi] / n[gi] : 3.5);
    for (auto& p : profile[u]) p -= mean / static_cast<double>(G);
  }
  std::vector<std::vector<double>> centre(4, std::vector<double>(G, 0));
  std::vector<int> size(4, 0);
  for (std::size_t u = 0; u < g.users.size(); ++u) {
    auto k = static_cast<std::size_t>(g.users[u].true_persona);
    ++size[k];
    for (std::size_t gi = 0; gi < G; ++gi) centre[k][gi] += profile[u][gi];
  }
  for (std::size_t k = 0; k < 4; ++k)
    for (auto& x : centre[k]) x /= std::max(1, size[k]);
  int nearest_own = 0;
  for (std::size_t u = 0; u < g.users.size(); ++u) {
    std::size_t best = 0;
    double best_d = 1e300;
    for (std::size_t k = 0; k < 4; ++k) {
      double d = 0;
      for (std::size_t gi = 0; gi < G; ++gi) d += (profile[u][gi] - centre[k][gi]) * (profile[u][gi] - centre[k][gi]);
      if (d < best_d) best_d = d, best = k;
    }
    nearest_own += best == static_cast<std::size_t>(g.users[u].true_persona);
  }
  EXPECT_GT(nearest_own, 0.7 * 1200) << "users should sit nearest to their own persona's centre";
}

TEST(Synthetic, WritesThePreparedLayout) {
  testing::TempDir tmp;
  RunDir run(tmp.path());
  auto comm = make_local_comm();
  auto c = synth_config(250);
  c.synth_chunk_users = 64;  // several chunks
  synthesize_dataset(c, 5, run, *comm);
  auto g = generate(c, 5, {{0, 250}});
  for (int readers : {1, 3}) {
    Generated back;
    for (int r = 0; r < readers; ++r) {
      testing::FakeRankComm fake(r, readers);
      Dataset ds = load_dataset(run, fake);
      EXPECT_EQ(ds.source, "synthetic");
      EXPECT_EQ(ds.items.size(), 500u);
      for (auto u : ds.users) {
        u.first += static_cast<std::int64_t>(back.rows.size());
        back.users.push_back(u);
      }
      back.rows.insert(back.rows.end(), ds.interactions.begin(), ds.interactions.end());
    }
    EXPECT_TRUE(same(g, back));
  }
  testing::FakeRankComm one(0, 1);
  Dataset ds = load_dataset(run, one);
  std::int64_t train_total = 0;
  for (auto& u : ds.users) train_total += u.n_train;
  std::int64_t counted = 0;
  for (auto& item : ds.items) counted += item.train_count;
  EXPECT_EQ(counted, train_total);
}

}  // namespace
}  // namespace personas
