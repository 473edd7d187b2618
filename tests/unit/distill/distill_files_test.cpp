// The distill stage's files: line files plain and zstd (io/line_file.h), the
// part file renamed to the final file versus lines copied, resume over a part
// cut by a kill (plain: a last line without newline; zstd: a cut frame), and
// distill.compress = zstd read back through load_memories.
#include <gtest/gtest.h>

#include <fstream>

#include "comm/comm.h"
#include "core/errors.h"
#include "distill/distill_stage.h"
#include "distill/memories.h"
#include "distill/memory_records.h"
#include "distill/record_index.h"
#include "io/jsonl.h"
#include "io/line_file.h"
#include "support/test_support.h"
#include "tiny_dataset.h"

namespace personas {
namespace {

// Every line of a plain or .zst file, joined with newlines (the text a reader sees).
std::string text_of(const fs::path& path) {
  std::string text;
  scan_lines(path, false, [&](std::string_view line, const LinePlace&, std::size_t) {
    text.append(line);
    text += '\n';
  });
  return text;
}

fs::path the_part(const RunDir& run) {
  std::vector<fs::path> parts;
  for (const auto& e : fs::directory_iterator(run.stage_dir("distill") / "parts")) parts.push_back(e.path());
  EXPECT_EQ(parts.size(), 1u);
  return parts.empty() ? fs::path() : parts.front();
}

void append_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

DistillConfig offline(LineCompression compress) {
  DistillConfig c;
  c.provider = Provider::offline;
  c.users_per_chunk = 2;
  c.compress = compress;
  return c;
}

TEST(LineFile, PlainAndZstdRoundTripByScanAndByPlace) {
  for (auto compression : {LineCompression::none, LineCompression::zstd}) {
    personas::testing::TempDir tmp;
    const auto path = tmp.path() / (compression == LineCompression::zstd ? "a.jsonl.zst" : "a.jsonl");
    ASSERT_EQ(compression_of(path), compression);
    std::vector<std::string> lines;
    std::vector<LinePlace> places;
    {
      LineWriter w(path, compression);
      for (int i = 0; i < 25; ++i) {
        lines.push_back(fmt::format("{{\"n\":{},\"pad\":\"{}\"}}", i, std::string(static_cast<std::size_t>(i * 97), 'x')));
        places.push_back(w.append(lines.back()));
        if (i % 7 == 6) w.end_chunk();
      }
      w.close();
      if (compression == LineCompression::zstd) {
        EXPECT_EQ(w.frame_bounds().size(), 4u + 1u);  // 7+7+7+4 lines
      }
    }
    std::vector<std::string> seen;
    auto scan = scan_lines(path, false, [&](std::string_view line, const LinePlace& place, std::size_t line_no) {
      const auto i = seen.size();
      seen.emplace_back(line);
      EXPECT_EQ(line_no, i + 1);
      EXPECT_EQ(place.frame, places[i].frame);
      EXPECT_EQ(place.offset, places[i].offset);
      EXPECT_EQ(place.length, places[i].length);
    });
    EXPECT_EQ(seen, lines);
    EXPECT_FALSE(scan.truncated_tail);
    LineFetcher fetch(path, scan.frame_bounds);
    for (std::size_t i : {24u, 3u, 4u, 17u, 0u}) EXPECT_EQ(fetch.fetch(places[i]), lines[i]);
    // read_jsonl takes either form.
    int n = 0;
    read_jsonl(path, [&](const nlohmann::json& j, std::size_t) { EXPECT_EQ(j.at("n").get<int>(), n++); });
    EXPECT_EQ(n, 25);
  }
}

TEST(LineFile, CutZstdFrameIsDroppedWhenToleratedAndAnErrorOtherwise) {
  personas::testing::TempDir tmp;
  const auto path = tmp.path() / "cut.jsonl.zst";
  {
    LineWriter w(path, LineCompression::zstd);
    w.append("{\"n\":0}");
    w.end_chunk();
    w.append("{\"n\":1}");
    w.close();
  }
  const auto whole = read_file(path);
  write_file_atomic(path, whole.substr(0, whole.size() - 5));  // the second frame loses its end
  std::vector<std::string> committed, pending;
  auto scan = scan_lines(
      path, true, [&](std::string_view line, const LinePlace&, std::size_t) { pending.emplace_back(line); },
      [&] {
        committed.insert(committed.end(), pending.begin(), pending.end());
        pending.clear();
      });
  EXPECT_TRUE(scan.truncated_tail);
  EXPECT_EQ(committed, (std::vector<std::string>{"{\"n\":0}"}));
  EXPECT_THROW(read_jsonl(path, [](const nlohmann::json&, std::size_t) {}), Error);
}

TEST(DistillFiles, RenamedPartIsByteIdenticalToCopiedLines) {
  auto data = testing::tiny_dataset(9);
  auto comm = make_local_comm();
  for (const LineCompression compress : {LineCompression::none, LineCompression::zstd}) {
    // Fresh: this run's part holds the whole block in order and is renamed.
    personas::testing::TempDir fresh_dir, resumed_dir;
    RunDir fresh(fresh_dir.path()), resumed(resumed_dir.path());
    EXPECT_EQ(run_distill(fresh, data, offline(compress), {}, *comm).users_ok, 9);
    // Resumed: earlier part + this run's part, copied line by line.
    DistillRunOptions killed;
    killed.stop_after_users = 4;
    EXPECT_THROW(run_distill(resumed, data, offline(compress), killed, *comm), Error);
    auto summary = run_distill(resumed, data, offline(compress), {}, *comm);
    EXPECT_EQ(summary.users_resumed, 4);
    EXPECT_EQ(summary.users_done_now, 5);
    const auto a = distill_rank_file(fresh, "memories", 0), b = distill_rank_file(resumed, "memories", 0);
    EXPECT_EQ(a.filename().string(), compress == LineCompression::zstd ? "memories-rank-00000.jsonl.zst" : "memories-rank-00000.jsonl");
    // Same chunking (users_per_chunk lines per zstd frame) gives the same bytes.
    EXPECT_EQ(read_file(a), read_file(b)) << to_string(compress);
    EXPECT_EQ(text_of(a), text_of(b));
    EXPECT_EQ(text_of(distill_rank_file(fresh, "failed", 0)), "");
    EXPECT_EQ(load_memories(fresh, *comm).size(), 9u);
  }
}

TEST(DistillFiles, IncompleteLastLineOfAnOldPartIsIgnoredAndItsUserRedone) {
  auto data = testing::tiny_dataset(9);
  auto comm = make_local_comm();
  personas::testing::TempDir ref_dir, tmp;
  RunDir reference(ref_dir.path()), run(tmp.path());
  run_distill(reference, data, offline(LineCompression::none), {}, *comm);
  const auto expected = read_file(distill_rank_file(reference, "memories", 0));

  DistillRunOptions killed;
  killed.stop_after_users = 4;
  EXPECT_THROW(run_distill(run, data, offline(LineCompression::none), killed, *comm), Error);
  // A kill in the middle of a write: the fifth user's line is cut short.
  const auto part = the_part(run);
  std::string fifth;
  std::size_t line_no = 0;
  scan_lines(distill_rank_file(reference, "memories", 0), false, [&](std::string_view line, const LinePlace&, std::size_t) {
    if (line_no++ == 4) fifth = std::string(line);
  });
  append_bytes(part, fifth.substr(0, fifth.size() / 2));
  RecordIndex index(0, 9);
  index.scan(part, false);
  EXPECT_TRUE(index.has(3));
  EXPECT_FALSE(index.has(4));

  auto summary = run_distill(run, data, offline(LineCompression::none), {}, *comm);
  EXPECT_EQ(summary.users_resumed, 4);
  EXPECT_EQ(summary.users_done_now, 5);
  EXPECT_EQ(read_file(distill_rank_file(run, "memories", 0)), expected);
}

TEST(DistillFiles, ZstdResumesAfterAKillAndReadsBackLikePlain) {
  auto data = testing::tiny_dataset(9);
  auto comm = make_local_comm();
  personas::testing::TempDir plain_dir, tmp;
  RunDir plain(plain_dir.path()), run(tmp.path());
  run_distill(plain, data, offline(LineCompression::none), {}, *comm);

  DistillRunOptions killed;
  killed.stop_after_users = 4;
  EXPECT_THROW(run_distill(run, data, offline(LineCompression::zstd), killed, *comm), Error);
  const auto part = the_part(run);
  EXPECT_EQ(part.extension(), ".zst");
  // A kill in the middle of the third frame: its first bytes only.
  const auto bytes = read_file(part);
  append_bytes(part, bytes.substr(0, 9));
  auto summary = run_distill(run, data, offline(LineCompression::zstd), {}, *comm);
  EXPECT_EQ(summary.users_resumed, 4);
  EXPECT_EQ(summary.users_done_now, 5);
  EXPECT_FALSE(fs::exists(run.rank_file("distill", "memories", 0, "jsonl")));
  EXPECT_EQ(text_of(distill_rank_file(run, "memories", 0)), read_file(distill_rank_file(plain, "memories", 0)));
  EXPECT_LT(fs::file_size(distill_rank_file(run, "memories", 0)), fs::file_size(distill_rank_file(plain, "memories", 0)));

  // One reader for both forms.
  const auto a = load_memories(plain, *comm), b = load_memories(run, *comm);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].user_id, b[i].user_id);
    EXPECT_EQ(a[i].profile, b[i].profile);
    EXPECT_EQ(a[i].notes.size(), b[i].notes.size());
  }
}

TEST(DistillFiles, ChangingCompressRedoesTheStage) {
  auto data = testing::tiny_dataset(5);
  auto comm = make_local_comm();
  personas::testing::TempDir tmp;
  RunDir run(tmp.path());
  auto none = run_distill(run, data, offline(LineCompression::none), {}, *comm);
  auto zstd = run_distill(run, data, offline(LineCompression::zstd), {}, *comm);
  EXPECT_NE(none.config_hash, zstd.config_hash);
  EXPECT_FALSE(zstd.skipped);
  EXPECT_EQ(zstd.users_done_now, 5);
  EXPECT_FALSE(fs::exists(run.rank_file("distill", "memories", 0, "jsonl")));
  EXPECT_TRUE(fs::exists(run.rank_file("distill", "memories", 0, "jsonl.zst")));
  EXPECT_TRUE(run_distill(run, data, offline(LineCompression::zstd), {}, *comm).skipped);
}

}  // namespace
}  // namespace personas

namespace personas {
namespace {

// load_memories with `keep`: only the accepted users come back, and the others'
// lines are recognised by their index without parsing (record_index_of).
TEST(DistillFiles, LoadMemoriesKeepsASampleByIndex) {
  auto data = testing::tiny_dataset(9);
  auto comm = make_local_comm();
  for (const LineCompression compress : {LineCompression::none, LineCompression::zstd}) {
    personas::testing::TempDir dir;
    RunDir run(dir.path());
    ASSERT_EQ(run_distill(run, data, offline(compress), {}, *comm).users_ok, 9);
    const auto all = load_memories(run, *comm);
    const auto odd = load_memories(run, *comm, [](std::int64_t index) { return index % 2 == 1; });
    ASSERT_EQ(odd.size(), 4u);
    for (std::size_t i = 0; i < odd.size(); ++i) EXPECT_EQ(odd[i].user_id, all[2 * i + 1].user_id);
    std::size_t lines = 0;
    scan_lines(distill_rank_file(run, "memories", 0), false, [&](std::string_view line, const LinePlace&, std::size_t) {
      EXPECT_EQ(record_index_of(line), static_cast<std::int64_t>(lines));
      ++lines;
    });
    EXPECT_EQ(lines, 9u);
  }
}

TEST(DistillFiles, RecordIndexOfIgnoresTheKeyInsideStrings) {
  EXPECT_EQ(record_index_of(R"({"activity":"x\",\"index\":7","index":12,"notes":[]})"), 12);
  EXPECT_EQ(record_index_of(R"({"a":1, "index": 3})"), std::nullopt);  // a space before the key: not a record line
  EXPECT_EQ(record_index_of(R"({"index":"3"})"), std::nullopt);
  EXPECT_EQ(record_index_of(R"({"notes":[],"index":40})"), 40);
}

}  // namespace
}  // namespace personas
