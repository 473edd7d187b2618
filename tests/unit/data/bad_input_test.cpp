// Every bad-input case: a data/io error naming file and line, or with
// data.on_bad_row = skip the valid rows and a count of the skipped ones.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "data/dataset_io.h"
#include "data/loaders.h"
#include "data/prepare.h"
#include "data/selection.h"
#include "support/test_support.h"
#include "unit/data/data_fixtures.h"

namespace personas {
namespace {

struct Outcome {
  ErrorKind kind;
  std::string message;
};

// Loads the small ML-100K folder after replacing `file` by `content`.
Outcome load_with(const std::string& file, const std::string& content, bool skip = false,
                  std::int64_t* skipped = nullptr, Ratings* out = nullptr) {
  testing::TempDir tmp;
  testing::write_small_ml100k(tmp.path());
  testing::write_text(tmp / file, content);
  BadRows bad(skip);
  try {
    Ratings r = load_ml100k(tmp.path(), testing::small_config(tmp.path()), bad);
    if (skipped) *skipped = bad.skipped();
    if (out) *out = std::move(r);
  } catch (const Error& e) {
    std::string message = e.message();
    // Paths differ per run: keep the file name and what follows.
    auto at = message.find(file);
    return {e.kind(), at == std::string::npos ? message : message.substr(at)};
  }
  return {ErrorKind::internal, "no error"};
}

std::string with_line(const std::string& extra_line, int at) {
  std::string base = testing::kSmallUData;
  std::size_t pos = 0;
  for (int i = 1; i < at; ++i) pos = base.find('\n', pos) + 1;
  return base.substr(0, pos) + extra_line + "\n" + base.substr(pos);
}

TEST(BadInput, FieldCount) {
  auto o = load_with("u.data", with_line("1\t2\t3", 4));
  EXPECT_EQ(o.kind, ErrorKind::data);
  EXPECT_EQ(o.message.rfind("u.data:4: expected 4 tab-separated fields, found 3", 0), 0u) << o.message;
}

TEST(BadInput, NonNumeric) {
  auto o = load_with("u.data", with_line("1\tseven\t3\t881250949", 2));
  EXPECT_EQ(o.kind, ErrorKind::data);
  EXPECT_EQ(o.message.rfind("u.data:2: non-numeric field", 0), 0u) << o.message;
  EXPECT_EQ(load_with("u.data", with_line("1\t2\tnan\t881250949", 1)).kind, ErrorKind::data);
  EXPECT_EQ(load_with("u.data", with_line("99999999999999999999\t2\t3\t1", 1)).kind, ErrorKind::data);
  EXPECT_EQ(load_with("u.user", "1|24|M|technician|85711\n2|old|F|other|94043\n").message.rfind("u.user:2:", 0), 0u);
}

TEST(BadInput, RatingOutOfRange) {
  auto o = load_with("u.data", with_line("4\t1\t6\t881250949", 5));
  EXPECT_EQ(o.kind, ErrorKind::data);
  EXPECT_EQ(o.message.rfind("u.data:5: rating 6 outside [1, 5]", 0), 0u) << o.message;
  EXPECT_EQ(load_with("u.data", with_line("4\t1\t0\t881250949", 5)).kind, ErrorKind::data);
}

TEST(BadInput, DuplicateUserItemPair) {
  auto o = load_with("u.data", std::string(testing::kSmallUData) + "1\t3\t2\t881259999\n");
  EXPECT_EQ(o.kind, ErrorKind::data);
  EXPECT_EQ(o.message.rfind("u.data:14: duplicate rating of item 3 by user 1 (first at line 4)", 0), 0u) << o.message;
}

TEST(BadInput, UnknownUserOrItem) {
  EXPECT_EQ(load_with("u.data", with_line("77\t1\t3\t1", 3)).message.rfind("u.data:3: user 77 is not in the users file", 0),
            0u);
  EXPECT_EQ(load_with("u.data", with_line("1\t77\t3\t1", 3)).message.rfind("u.data:3: item 77 is not in the items file", 0),
            0u);
}

TEST(BadInput, SkipModeKeepsTheGoodRowsAndCounts) {
  std::string content = with_line("1\t2\t3", 4) + "4\t1\t9\t1\n1\t3\t2\t881259999\nabc\n";
  std::int64_t skipped = -1;
  Ratings r;
  auto o = load_with("u.data", content, /*skip=*/true, &skipped, &r);
  EXPECT_EQ(o.message, "no error");
  EXPECT_EQ(skipped, 4);
  EXPECT_EQ(r.n_ratings(), 13);
}

TEST(BadInput, MissingFiles) {
  testing::TempDir tmp;
  testing::write_small_ml100k(tmp.path());
  fs::remove(tmp / "u.item");
  BadRows bad(false);
  try {
    load_ml100k(tmp.path(), testing::small_config(tmp.path()), bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(e.message().find("u.item' not found"), std::string::npos) << e.message();
  }
  try {
    load_ml100k(tmp / "nowhere", testing::small_config(tmp / "nowhere"), bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
  }
}

TEST(BadInput, WrongEncodings) {
  // UTF-16 (with NUL bytes) where text is expected.
  std::string utf16;
  for (char c : std::string("1\t1\t5\t881250949\n")) {
    utf16 += c;
    utf16 += '\0';
  }
  auto o = load_with("u.data", "\xff\xfe" + utf16);
  EXPECT_EQ(o.kind, ErrorKind::data);
  EXPECT_NE(o.message.find("u.data:1: NUL byte: not a text file"), std::string::npos) << o.message;
  // Latin-1 bytes in a CSV, which must be UTF-8.
  testing::TempDir tmp;
  testing::write_text(tmp / "r.csv", "userId,movieId,rating,timestamp\n1,1,4,5\n2,1,3,6\n# caf\xe9\n");
  BadRows bad(false);
  try {
    load_csv(tmp / "r.csv", testing::small_config(tmp / "r.csv", DataSource::csv), bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find("r.csv:4: not valid UTF-8"), std::string::npos) << e.message();
  }
}

TEST(BadInput, DamagedGzip) {
  testing::TempDir tmp;
  testing::write_gzip(tmp / "r.tsv.gz", std::string(2000, '1') + "\t2\t3\n");
  std::string bytes = read_file(tmp / "r.tsv.gz");
  testing::write_text(tmp / "r.tsv.gz", bytes.substr(0, bytes.size() / 2));
  BadRows bad(false);
  try {
    load_ml1m_fallback(tmp / "r.tsv.gz", DataConfig{}, bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find("damaged gzip stream"), std::string::npos) << e.message();
  }
}

TEST(BadInput, CsvMissingColumnNamesTheKey) {
  testing::TempDir tmp;
  testing::write_text(tmp / "r.csv", "user,movieId,rating,timestamp\n1,1,4,5\n");
  BadRows bad(false);
  try {
    load_csv(tmp / "r.csv", testing::small_config(tmp / "r.csv", DataSource::csv), bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find("r.csv:1: no column 'userId'"), std::string::npos) << e.message();
    EXPECT_NE(e.hint().find("data.csv_user_col"), std::string::npos);
  }
}

// An empty ratings file says so and names the file (was: "empty selection:
// none of the 943 users has between ... ratings", which points at the filters).
TEST(BadInput, EmptyRatingsFileIsNamed) {
  for (const std::string content : {"", "\n\n  \n"}) {
    auto o = load_with("u.data", content);
    EXPECT_EQ(o.kind, ErrorKind::data);
    EXPECT_EQ(o.message, "u.data: the ratings file is empty (no rating rows)") << o.message;
  }
  testing::TempDir tmp;
  testing::write_text(tmp / "r.csv", "userId,movieId,rating,timestamp\n");
  BadRows bad(false);
  try {
    load_csv(tmp / "r.csv", testing::small_config(tmp / "r.csv", DataSource::csv), bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find("r.csv: the ratings file has a header and no rating rows"), std::string::npos)
        << e.message();
  }
}

TEST(BadInput, EmptySelection) {
  testing::TempDir tmp;
  testing::write_small_ml100k(tmp.path());
  DataConfig c = testing::small_config(tmp.path());
  c.min_ratings = 50;
  BadRows bad(false);
  Ratings r = load_ml100k(tmp.path(), c, bad);
  try {
    select_and_split(r, c, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find("empty selection"), std::string::npos);
    EXPECT_NE(e.hint().find("data.min_ratings"), std::string::npos);
  }
}

TEST(BadInput, NothingHalfWrittenInTheRunDirectory) {
  testing::TempDir data, runs;
  testing::write_small_ml100k(data.path());
  testing::write_text(data / "u.data", with_line("1\t2", 7));
  RunDir run(runs / "run");
  auto comm = make_local_comm();
  EXPECT_THROW(prepare_stage(testing::small_config(data.path()), 1, run, *comm, "h"), Error);
  EXPECT_FALSE(fs::exists(run.stage_dir("prepare") / "DONE"));
  EXPECT_FALSE(fs::exists(run.stage_dir("prepare") / "items.h5"));
  // A good run, then a bad one: the good outputs stay whole and marked.
  testing::write_small_ml100k(data.path());
  prepare_stage(testing::small_config(data.path()), 1, run, *comm, "h");
  EXPECT_TRUE(run.is_done("prepare", "h"));
  testing::write_text(data / "u.data", with_line("1\t2", 7));
  EXPECT_THROW(prepare_stage(testing::small_config(data.path()), 1, run, *comm, "h2"), Error);
  EXPECT_TRUE(run.is_done("prepare", "h"));
  for (const auto& entry : fs::directory_iterator(run.stage_dir("prepare")))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  EXPECT_EQ(load_dataset(run, *comm).n_users_total, 3);
}

}  // namespace
}  // namespace personas
