#include <gtest/gtest.h>

#include <cmath>

#include "comm/comm.h"
#include "embed/hashed_tfidf.h"
#include "support/test_support.h"

namespace personas {
namespace {

TEST(TextWords, LowercasesAndSplits) {
  EXPECT_EQ(text_words("I don't like Sci-Fi, but LOVE 1990s films!"),
            (std::vector<std::string>{"i", "dont", "like", "sci", "fi", "but", "love", "1990s", "films"}));
  EXPECT_TRUE(text_words("  ...  ").empty());
}

TEST(HashedTfidf, HandComputedWeights) {
  // Unigrams only; dim large enough that these few words rarely collide: check the buckets.
  HashedTfidfEmbedder e(1 << 20, 1);
  const std::vector<std::string> corpus = {"horror horror space", "space drama", "drama"};
  auto comm = make_local_comm();
  e.fit(corpus, {}, *comm);
  const auto b_horror = e.buckets("horror").at(0), b_space = e.buckets("space").at(0);
  ASSERT_NE(b_horror, b_space);
  EXPECT_EQ(e.table().n_docs, 3);
  EXPECT_EQ(e.table().df[b_horror], 1);
  EXPECT_EQ(e.table().df[b_space], 2);
  const auto v = e.embed(std::vector<std::string>{"horror horror space"});
  // horror: (1 + ln 2) * (ln(4/2) + 1); space: 1 * (ln(4/3) + 1); then unit length.
  const double h = (1 + std::log(2.0)) * (std::log(2.0) + 1), s = std::log(4.0 / 3.0) + 1;
  const double norm = std::sqrt(h * h + s * s);
  EXPECT_NEAR(v[b_horror], h / norm, 1e-6);
  EXPECT_NEAR(v[b_space], s / norm, 1e-6);
}

TEST(HashedTfidf, UnitLengthBigramsAndEmptyText) {
  HashedTfidfEmbedder e(64, 2);
  EXPECT_EQ(e.buckets("a b c").size(), 5u);  // a, a b, b, b c, c
  const auto v = e.embed(std::vector<std::string>{"some words here and there", ""});
  double n0 = 0, n1 = 0;
  for (int t = 0; t < 64; ++t) n0 += v[t] * v[t], n1 += v[64 + t] * v[64 + t];
  EXPECT_NEAR(n0, 1.0, 1e-6);
  EXPECT_EQ(n1, 0.0);
}

TEST(HashedTfidf, ReplicatedTextsCountOnceAndSaveLoadRoundTrips) {
  HashedTfidfEmbedder e(128, 2);
  auto comm = make_local_comm();
  const std::vector<std::string> sharded = {"one two", "two three"}, replicated = {"three four"};
  e.fit(sharded, replicated, *comm);
  EXPECT_EQ(e.table().n_docs, 3);
  testing::TempDir dir;
  e.save(dir / "t.h5");
  auto loaded = HashedTfidfEmbedder::load(dir / "t.h5");
  EXPECT_EQ(loaded.table().df, e.table().df);
  const std::vector<std::string> q = {"two four five"};
  EXPECT_EQ(loaded.embed(q), e.embed(q));
}

TEST(HashedTfidf, DeterministicAcrossInstancesAndOrderOfFit) {
  const std::vector<std::string> corpus = {"a quiet drama about family", "space opera with lasers",
                                           "family comedy", "lasers and robots in space"};
  std::vector<std::string> reversed(corpus.rbegin(), corpus.rend());
  auto comm = make_local_comm();
  HashedTfidfEmbedder a(256, 2), b(256, 2);
  a.fit(corpus, {}, *comm);
  b.fit(reversed, {}, *comm);  // document frequencies do not depend on the order
  EXPECT_EQ(a.table().df, b.table().df);
  const auto va = a.embed(corpus), vb = b.embed(corpus);
  EXPECT_EQ(va, vb);
  for (std::size_t r = 0; r < corpus.size(); ++r) {
    double n = 0;
    for (int t = 0; t < 256; ++t) n += double(va[r * 256 + t]) * va[r * 256 + t];
    EXPECT_NEAR(n, 1.0, 1e-6) << "row " << r;
  }
}

}  // namespace
}  // namespace personas
