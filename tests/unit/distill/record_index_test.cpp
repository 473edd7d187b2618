#include "distill/record_index.h"

#include <gtest/gtest.h>

#include <sstream>

#include "core/errors.h"
#include "distill/memory_records.h"
#include "support/test_support.h"

using namespace personas;

namespace {

std::string line(std::int64_t index, bool failed, const std::string& text) {
  MemoryRecord r;
  r.index = index;
  r.failed = failed;
  r.memory.user_id = 1000 + index;
  if (failed) r.reason = text;
  else r.memory.profile = text;
  return record_to_json(r, nullptr).dump();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST(RecordIndex, PrecedenceAndUserOrder) {
  personas::testing::TempDir tmp;
  const auto earlier = tmp.path() / "memories-rank-00000.jsonl";
  const auto earlier_failed = tmp.path() / "failed-rank-00000.jsonl";
  const auto part = tmp.path() / "part-a.jsonl";
  write_file_atomic(earlier, line(12, false, "twelve") + "\n\n" + line(10, false, "ten, first") + "\n" +
                                 line(10, false, "ten, second") + "\n" + line(99, false, "other block") + "\n");
  write_file_atomic(earlier_failed, line(11, true, "eleven failed") + "\n" + line(13, true, "thirteen failed") + "\n");
  write_file_atomic(part, line(11, false, "eleven now") + "\n" + line(13, true, "thirteen failed again") + "\n");

  RecordIndex index(10, 15);
  index.scan(earlier, false);
  index.scan(earlier_failed, false);
  EXPECT_TRUE(index.has(10));
  EXPECT_TRUE(index.failed(11));
  EXPECT_FALSE(index.has(14));
  EXPECT_FALSE(index.has(99));  // outside the block
  index.scan(part, /*replace=*/true);  // this run's results win
  EXPECT_FALSE(index.failed(11));

  std::ostringstream ok, failed;
  EXPECT_EQ(index.copy_lines(ok, false), 3);
  EXPECT_EQ(index.copy_lines(failed, true), 1);
  EXPECT_EQ(lines_of(ok.str()), (std::vector<std::string>{line(10, false, "ten, first"), line(11, false, "eleven now"),
                                                           line(12, false, "twelve")}));
  EXPECT_EQ(lines_of(failed.str()), (std::vector<std::string>{line(13, true, "thirteen failed again")}));
}

TEST(RecordIndex, ASuccessReplacesAnEarlierFailureWithoutReplace) {
  personas::testing::TempDir tmp;
  const auto a = tmp.path() / "a.jsonl", b = tmp.path() / "b.jsonl";
  write_file_atomic(a, line(3, true, "failed") + "\n");
  write_file_atomic(b, line(3, false, "ok") + "\n" + line(4, true, "failed") + "\n");
  RecordIndex index(0, 10);
  index.scan(a, false);
  index.scan(b, false);
  EXPECT_FALSE(index.failed(3));
  EXPECT_TRUE(index.failed(4));
}

TEST(RecordIndex, BadLineNamesFileAndLine) {
  personas::testing::TempDir tmp;
  const auto bad = tmp.path() / "part-bad.jsonl";
  write_file_atomic(bad, line(1, false, "fine") + "\n{\"index\": \n");
  RecordIndex index(0, 10);
  try {
    index.scan(bad, false);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(std::string(e.what()).find("part-bad.jsonl:2"), std::string::npos) << e.what();
  }
}
