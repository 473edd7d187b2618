#include "data/loaders.h"

#include <gtest/gtest.h>

#include <array>
#include <map>

#include "core/errors.h"
#include "core/strings.h"
#include "support/test_support.h"
#include "unit/data/data_fixtures.h"

namespace personas {
namespace {

std::map<int, std::int64_t> histogram(const Ratings& r) {
  std::map<int, std::int64_t> h;
  for (float x : r.rating) ++h[static_cast<int>(x)];
  return h;
}

TEST(Ml100k, RealDataCountsAndHistogram) {
  PERSONAS_REQUIRE_DATA(udata, "ml-100k/u.data");
  DataConfig config;
  BadRows bad(false);
  Ratings r = load_ml100k(udata.parent_path(), config, bad);
  EXPECT_EQ(r.n_ratings(), 100000);
  EXPECT_EQ(r.users.size(), 943u);
  EXPECT_EQ(r.items.size(), 1682u);
  EXPECT_EQ(r.genre_names.size(), 19u);
  EXPECT_EQ(r.genre_names[1], "Action");
  auto h = histogram(r);
  EXPECT_EQ(h[1], 6110);
  EXPECT_EQ(h[2], 11370);
  EXPECT_EQ(h[3], 27145);
  EXPECT_EQ(h[4], 34174);
  EXPECT_EQ(h[5], 21201);
  EXPECT_EQ(r.items[0].title, "Toy Story");
  EXPECT_EQ(r.items[0].year, 1995);
  EXPECT_EQ(r.items[0].genres, (1u << 3) | (1u << 4) | (1u << 5));  // Animation, Children's, Comedy
  int non_ascii = 0;
  for (const Item& item : r.items) {
    EXPECT_TRUE(is_valid_utf8(item.title)) << item.id;
    for (unsigned char c : item.title) non_ascii += c >= 0x80;
  }
  EXPECT_GT(non_ascii, 0) << "Latin-1 titles should have become UTF-8 multi-byte characters";
  EXPECT_EQ(r.users[0].age, 24);
  EXPECT_EQ(r.users[0].gender, 'M');
  EXPECT_EQ(r.users[0].occupation, "technician");
  EXPECT_TRUE(r.has_timestamps);
  for (std::size_t u = 0; u < r.users.size(); ++u)
    for (auto k = r.user_begin[u] + 1; k < r.user_begin[u + 1]; ++k) ASSERT_LE(r.timestamp[k - 1], r.timestamp[k]);
}

TEST(Ml100k, SmallFilesLatin1TitlesAndYears) {
  testing::TempDir tmp;
  testing::write_small_ml100k(tmp.path());
  BadRows bad(false);
  Ratings r = load_ml100k(tmp.path(), testing::small_config(tmp.path()), bad);
  EXPECT_EQ(r.n_ratings(), 13);
  EXPECT_EQ(r.items[2].title, "Caf\xc3\xa9 au lait (Gazon maudit)");
  EXPECT_EQ(r.items[2].year, 1995);
  EXPECT_EQ(r.items[3].title, "unknown");
  EXPECT_EQ(r.items[3].year, 0);
  EXPECT_EQ(r.items[4].year, 1995);  // from the release date
  EXPECT_EQ(r.items[2].genres, 6u);
  // User 1's ratings in time order: items 5, 3, 1, 2, 4.
  std::vector<std::int32_t> order(r.item.begin() + r.user_begin[0], r.item.begin() + r.user_begin[1]);
  EXPECT_EQ(order, (std::vector<std::int32_t>{4, 2, 0, 1, 3}));
}

TEST(Ml1m, SmallFilesInTheMl1mFormat) {
  testing::TempDir tmp;
  testing::write_text(tmp / "movies.dat",
                      "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                      "2::Jumanji (1995)::Adventure|Children's|Fantasy\n"
                      "3::Pok\xe9mon (1999)::Animation|Kids\n");
  testing::write_text(tmp / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n");
  testing::write_text(tmp / "ratings.dat",
                      "1::1::5::978300760\n1::3::3::978302109\n2::2::4::978301968\n2::1::1::978300275\n"
                      "1::2::2::978300000\n");
  BadRows bad(false);
  Ratings r = load_ml1m(tmp.path(), testing::small_config(tmp.path(), DataSource::ml1m), bad);
  EXPECT_EQ(r.source, "ml1m");
  EXPECT_EQ(r.n_ratings(), 5);
  EXPECT_EQ(r.items[2].title, "Pok\xc3\xa9mon");
  EXPECT_EQ(r.genre_names.size(), 19u);  // the 18 of ML-1M plus "Kids"
  EXPECT_EQ(r.genre_names.back(), "Kids");
  EXPECT_EQ(r.items[0].genres, (1u << 2) | (1u << 3) | (1u << 4));
  EXPECT_EQ(r.users[0].gender, 'F');
  EXPECT_EQ(r.users[0].occupation, "K-12 student");
  EXPECT_EQ(r.users[1].occupation, "self-employed");
  EXPECT_EQ(r.users[1].age, 56);
  EXPECT_EQ(r.n_ratings_of(0), 3);
  EXPECT_EQ(r.timestamp[static_cast<std::size_t>(r.user_begin[0])], 978300000);
}

TEST(Ml1m, RealFolderWithoutRatingsPointsToTheFallback) {
  PERSONAS_REQUIRE_DATA(movies, "ml-1m/movies.dat");
  if (fs::exists(movies.parent_path() / "ratings.dat")) GTEST_SKIP() << "ratings.dat is present here";
  BadRows bad(false);
  try {
    load_ml1m(movies.parent_path(), DataConfig{}, bad);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(e.message().find("ratings.dat"), std::string::npos);
    EXPECT_NE(e.hint().find("ml1m-fallback"), std::string::npos);
  }
}

TEST(Ml1mFallback, SmallGzipWithUsersNextDoor) {
  testing::TempDir tmp;
  fs::create_directories(tmp / "derived");
  testing::write_text(tmp / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n");
  testing::write_gzip(tmp / "derived" / "ratings_user_itemidx_rating.tsv.gz", "1\t1\t5\n2\t1\t3\n1\t2\t4\n3\t2\t1\n");
  BadRows bad(false);
  Ratings r = load_ml1m_fallback(tmp.path(), testing::small_config(tmp.path(), DataSource::ml1m_fallback), bad);
  EXPECT_FALSE(r.has_timestamps);
  EXPECT_EQ(r.n_ratings(), 4);
  EXPECT_EQ(r.users.size(), 3u);  // two from users.dat, user 3 only in the ratings
  EXPECT_EQ(r.users[0].gender, 'F');
  EXPECT_EQ(r.users[2].gender, '?');
  EXPECT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].title, "");
}

TEST(Ml1mFallback, RealDerivedFile) {
  PERSONAS_REQUIRE_DATA(gz, "ml-1m/derived/ratings_user_itemidx_rating.tsv.gz");
  DataConfig config;
  BadRows bad(false);
  Ratings r = load_ml1m_fallback(gz, config, bad);
  EXPECT_EQ(r.n_ratings(), 1000209);
  EXPECT_EQ(r.users.size(), 6040u);
  EXPECT_EQ(r.items.size(), 3706u);
  auto h = histogram(r);
  EXPECT_EQ(h[1], 56174);
  EXPECT_EQ(h[2], 107557);
  EXPECT_EQ(h[3], 261197);
  EXPECT_EQ(h[4], 348971);
  EXPECT_EQ(h[5], 226310);
  EXPECT_EQ(r.n_ratings_of(0), 53);
  EXPECT_EQ(r.users[0].gender, 'F');  // users.dat was found next to derived/
}

TEST(Csv, HeaderMappingQuotesAndHalfStars) {
  testing::TempDir tmp;
  testing::write_text(tmp / "movies.csv",
                      "movieId,title,genres\n"
                      "1,Toy Story (1995),Adventure|Animation\n"
                      "11,\"American President, The (1995)\",Comedy|Drama|Romance\n"
                      "12,\"Say \"\"Hi\"\" (2001)\",(no genres listed)\n");
  testing::write_text(tmp / "ratings.csv",
                      "\xEF\xBB\xBFtimestamp,rating,movieId,userId\n"
                      "964982703,4.0,1,1\n964981247,0.5,11,1\n964982224,4.5,12,1\n964983815,5.0,1,7\n");
  DataConfig c = testing::small_config(tmp / "ratings.csv", DataSource::csv);
  c.csv_items_path = (tmp / "movies.csv").string();
  c.rating_min = 0.5;
  BadRows bad(false);
  Ratings r = load_csv(tmp / "ratings.csv", c, bad);
  EXPECT_EQ(r.n_ratings(), 4);
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.items[1].title, "American President, The");
  EXPECT_EQ(r.items[2].title, "Say \"Hi\"");
  EXPECT_EQ(r.items[2].year, 2001);
  EXPECT_EQ(r.items[2].genres, 0u);
  EXPECT_EQ(r.genre_names, (std::vector<std::string>{"Adventure", "Animation", "Comedy", "Drama", "Romance"}));
  EXPECT_EQ(r.users.size(), 2u);
  EXPECT_FLOAT_EQ(r.rating[static_cast<std::size_t>(r.user_begin[0])], 0.5f);  // oldest first
}

TEST(Csv, TabSeparatedWithoutTimestamps) {
  testing::TempDir tmp;
  testing::write_text(tmp / "r.tsv", "u\ti\tr\n1\t10\t3\n1\t11\t4\n2\t10\t5\n");
  DataConfig c = testing::small_config(tmp / "r.tsv", DataSource::csv);
  c.csv_separator = "tab";
  c.csv_user_col = "u";
  c.csv_item_col = "i";
  c.csv_rating_col = "r";
  c.csv_time_col = "";
  BadRows bad(false);
  Ratings r = load_csv(tmp / "r.tsv", c, bad);
  EXPECT_FALSE(r.has_timestamps);
  EXPECT_EQ(r.n_ratings(), 3);
  EXPECT_EQ(r.items.size(), 2u);
}

TEST(TitleYear, Splits) {
  EXPECT_EQ(split_title_year("Toy Story (1995)"), (std::pair<std::string, int>{"Toy Story", 1995}));
  EXPECT_EQ(split_title_year("City of Lost Children, The (Cité des enfants perdus, La) (1995)").second, 1995);
  EXPECT_EQ(split_title_year("Heat"), (std::pair<std::string, int>{"Heat", 0}));
  EXPECT_EQ(split_title_year("(1995)"), (std::pair<std::string, int>{"(1995)", 0}));
  EXPECT_EQ(split_title_year("X (19a5)"), (std::pair<std::string, int>{"X (19a5)", 0}));
}

}  // namespace
}  // namespace personas
