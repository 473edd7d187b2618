// The paper's protocol: eligibility, seeded choice, per-user temporal split,
// training-period-only item statistics, blocks over ranks.
#include "data/selection.h"

#include <gtest/gtest.h>

#include <set>

#include "data/loaders.h"
#include "support/test_support.h"
#include "unit/data/data_fixtures.h"

namespace personas {
namespace {

// Every user's training period precedes the test period, the fractions hold,
// and item statistics are exactly the training-period ratings' mean and count.
void expect_split_invariants(const Dataset& ds, double fraction) {
  std::vector<double> sum(ds.items.size(), 0);
  std::vector<std::int32_t> count(ds.items.size(), 0);
  for (const User& u : ds.users) {
    const auto n = u.n_train + u.n_test;
    EXPECT_EQ(u.n_train, train_count(n, fraction));
    EXPECT_NEAR(u.n_train, fraction * n, 0.5 + 1e-9);
    auto train = ds.train_of(u), test = ds.test_of(u);
    for (std::size_t k = 1; k < train.size(); ++k) {
      ASSERT_LE(train[k - 1].timestamp, train[k].timestamp);
      if (train[k - 1].timestamp == train[k].timestamp) {
        ASSERT_LT(train[k - 1].item, train[k].item);
      }
    }
    for (std::size_t k = 1; k < test.size(); ++k) ASSERT_LE(test[k - 1].timestamp, test[k].timestamp);
    if (!train.empty() && !test.empty()) {
      ASSERT_LE(train.back().timestamp, test.front().timestamp);
    }
    for (const auto& x : train) {
      sum[static_cast<std::size_t>(x.item)] += x.rating;
      ++count[static_cast<std::size_t>(x.item)];
    }
  }
  for (std::size_t i = 0; i < ds.items.size(); ++i) {
    ASSERT_EQ(ds.items[i].train_count, count[i]) << i;
    ASSERT_DOUBLE_EQ(ds.items[i].train_mean, count[i] ? sum[i] / count[i] : 0.0) << i;
  }
}

TEST(Selection, TrainCount) {
  EXPECT_EQ(train_count(1, 0.6), 1);
  EXPECT_EQ(train_count(2, 0.6), 1);
  EXPECT_EQ(train_count(2, 0.99), 1);
  EXPECT_EQ(train_count(2, 0.01), 1);
  EXPECT_EQ(train_count(5, 0.6), 3);
  EXPECT_EQ(train_count(100, 0.6), 60);
  EXPECT_EQ(train_count(153, 0.6), 92);
}

TEST(Selection, SmallFilesByHand) {
  testing::TempDir tmp;
  testing::write_small_ml100k(tmp.path());
  auto config = testing::small_config(tmp.path());
  BadRows bad(false);
  Ratings r = load_ml100k(tmp.path(), config, bad);
  Dataset ds = select_and_split(r, config, 42);
  ASSERT_EQ(ds.n_users_total, 3);  // user 4 has one rating
  EXPECT_EQ(ds.users[0].id, 1);
  EXPECT_EQ(ds.users[0].n_train, 3);  // 5 ratings * 0.6
  EXPECT_EQ(ds.users[1].n_train, 2);  // round(2.4)
  EXPECT_EQ(ds.users[2].n_train, 2);  // round(1.8)
  // User 1's training period: items 5 (rated 1), 3 (4), 1 (5); test: 2 (3), 4 (2).
  auto train = ds.train_of(ds.users[0]);
  EXPECT_EQ(train[0].item, 4);
  EXPECT_EQ(train[2].item, 0);
  EXPECT_EQ(ds.test_of(ds.users[0])[0].item, 1);
  // Item 2 (index 1) is rated by user 1 in the test period only, and by user 2
  // in its test period, and by user 4 (not selected): no training statistics.
  EXPECT_EQ(ds.items[1].train_count, 0);
  EXPECT_EQ(ds.items[1].train_mean, 0.0);
  expect_split_invariants(ds, 0.6);
}

TEST(Selection, Ml100kPaperProtocol) {
  PERSONAS_REQUIRE_DATA(udata, "ml-100k/u.data");
  DataConfig config;  // 200 users with 100..200 ratings, train fraction 0.6
  BadRows bad(false);
  Ratings r = load_ml100k(udata.parent_path(), config, bad);
  Dataset a = select_and_split(r, config, 1234);
  EXPECT_EQ(a.n_users_total, 200);
  std::int64_t eligible = 0;
  for (std::size_t u = 0; u < r.users.size(); ++u) eligible += r.n_ratings_of(u) >= 100 && r.n_ratings_of(u) <= 200;
  EXPECT_GT(eligible, 200);
  for (std::size_t k = 0; k < a.users.size(); ++k) {
    const auto n = a.users[k].n_train + a.users[k].n_test;
    EXPECT_GE(n, 100);
    EXPECT_LE(n, 200);
    if (k) {
      EXPECT_LT(a.users[k - 1].id, a.users[k].id);
    }
  }
  expect_split_invariants(a, 0.6);
  Dataset same = select_and_split(r, config, 1234);
  Dataset other = select_and_split(r, config, 99);
  std::vector<std::int64_t> ia, isame, iother;
  for (auto& u : a.users) ia.push_back(u.id);
  for (auto& u : same.users) isame.push_back(u.id);
  for (auto& u : other.users) iother.push_back(u.id);
  EXPECT_EQ(ia, isame);
  EXPECT_NE(ia, iother);
}

TEST(Selection, WithoutTimestampsTheOrderIsSeeded) {
  testing::TempDir tmp;
  std::string rows;
  for (int u = 1; u <= 3; ++u)
    for (int i = 1; i <= 20; ++i) rows += fmt::format("{}\t{}\t{}\n", u, i, 1 + (u * i) % 5);
  testing::write_gzip(tmp / "r.tsv.gz", rows);
  auto config = testing::small_config(tmp / "r.tsv.gz", DataSource::ml1m_fallback);
  BadRows bad(false);
  Ratings r = load_ml1m_fallback(tmp / "r.tsv.gz", config, bad);
  Dataset a = select_and_split(r, config, 5), b = select_and_split(r, config, 5), c = select_and_split(r, config, 6);
  auto items = [](const Dataset& d) {
    std::vector<std::int32_t> v;
    for (auto& x : d.interactions) v.push_back(x.item);
    return v;
  };
  EXPECT_EQ(items(a), items(b));
  EXPECT_NE(items(a), items(c));
  std::vector<std::int32_t> sorted = items(a);
  std::sort(sorted.begin(), sorted.begin() + 20);
  EXPECT_NE(std::vector<std::int32_t>(items(a).begin(), items(a).begin() + 20),
            std::vector<std::int32_t>(sorted.begin(), sorted.begin() + 20));  // not the file order
  EXPECT_EQ(a.users[0].n_train, 12);
}

TEST(Selection, BlocksCoverTheSelectionForAnyRankCount) {
  testing::TempDir tmp;
  testing::write_small_ml100k(tmp.path());
  auto config = testing::small_config(tmp.path());
  config.min_ratings = 1;
  BadRows bad(false);
  Dataset whole = select_and_split(load_ml100k(tmp.path(), config, bad), config, 3);
  for (int ranks = 1; ranks <= 5; ++ranks) {
    std::vector<std::int64_t> ids;
    std::size_t rows = 0;
    for (int r = 0; r < ranks; ++r) {
      Dataset part = take_block(whole, r, ranks);
      EXPECT_EQ(part.first_user, static_cast<std::int64_t>(ids.size()));
      for (auto& u : part.users) {
        ids.push_back(u.id);
        EXPECT_EQ(part.train_of(u).size() + part.test_of(u).size(),
                  static_cast<std::size_t>(u.n_train + u.n_test));
      }
      rows += part.interactions.size();
    }
    EXPECT_EQ(ids, (std::vector<std::int64_t>{1, 2, 3, 4}));
    EXPECT_EQ(rows, whole.interactions.size());
  }
}

}  // namespace
}  // namespace personas
