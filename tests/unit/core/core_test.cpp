#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/run_dir.h"
#include "core/strings.h"
#include "support/test_support.h"

namespace personas {
namespace {

TEST(Errors, CheckCarriesKindMessageAndOrigin) {
  try {
    int rows = 3;
    PERSONAS_CHECK(rows == 4, data, "file.csv:{}: bad", rows);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_EQ(e.exit_code(), 5);
    EXPECT_EQ(e.message(), "file.csv:3: bad");
    EXPECT_NE(e.origin().find("core_test.cpp:"), std::string::npos);
  }
}

TEST(Errors, CheckOpPrintsBothValues) {
  try {
    PERSONAS_CHECK_OP(2, ==, 3, config, "field");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("2 vs 3"), std::string::npos) << e.message();
  }
}

TEST(Strings, SplitTrimLatin1Utf8) {
  auto f = split("1::Toy Story (1995)::Animation", "::");
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[2], "Animation");
  EXPECT_EQ(split("a\t\tb", "\t").size(), 3u);
  EXPECT_EQ(trim("  x \r\n"), "x");
  EXPECT_EQ(latin1_to_utf8("\xC1"), "\xC3\x81");
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9"));
  EXPECT_FALSE(is_valid_utf8("caf\xE9"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));  // surrogate
  EXPECT_EQ(split_lines("a\r\nb\n\nc").size(), 4u);
  EXPECT_EQ(count_words("  two  words\n"), 2u);
  EXPECT_EQ(hash_hex(""), "cbf29ce484222325");
}

TEST(Strings, ParseInt64TakesTheWholeTextOrNothing) {
  EXPECT_EQ(parse_int64("42"), 42);
  EXPECT_EQ(parse_int64("-7"), -7);
  EXPECT_EQ(parse_int64("00000035"), 35);
  EXPECT_EQ(parse_int64("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", "12abc", " 3", "3 ", "+3", "0x10", "9223372036854775808", "-", "1.5"})
    EXPECT_FALSE(parse_int64(bad).has_value()) << bad;
}

TEST(Fs, AtomicWriteLeavesNoTempOnFailure) {
  testing::TempDir dir;
  write_file_atomic(dir / "a/b.txt", "hello");
  EXPECT_EQ(read_file(dir / "a/b.txt"), "hello");
  EXPECT_THROW(write_atomically(dir / "c.txt", [](const fs::path& p) {
                 write_file_atomic(p, "partial");
                 throw Error(ErrorKind::io, "disk full");
               }),
               Error);
  EXPECT_FALSE(fs::exists(dir / "c.txt"));
  int n = 0;
  for (auto& e : fs::directory_iterator(dir.path())) n += e.path().filename() != "a";
  EXPECT_EQ(n, 0) << "a temp file was left behind";
  EXPECT_EQ(rank_file_name("profiles", 3, "h5"), "profiles-rank-00003.h5");
}

TEST(Fs, ReadMissingFileNamesIt) {
  try {
    read_file("/no/such/file.ini");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(e.message().find("/no/such/file.ini"), std::string::npos);
  }
}

TEST(RunDir, DoneMarkerMatchesHash) {
  testing::TempDir dir;
  RunDir run(dir.path());
  EXPECT_FALSE(run.is_done("prepare", "abc"));
  run.ensure_stage_dir("prepare");
  run.mark_done("prepare", "abc", {{"n_users", 5}});
  EXPECT_TRUE(run.is_done("prepare", "abc"));
  EXPECT_FALSE(run.is_done("prepare", "abd"));
  EXPECT_EQ(run.done_marker("prepare")->at("n_users"), 5);
  run.clear_done("prepare");
  EXPECT_FALSE(run.is_done("prepare", "abc"));
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(format_duration(12.34), "12.3s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
}

}  // namespace
}  // namespace personas
