// Where each user's distillation record lies on disk, without holding the
// records: the file, the line's place in it (io/line_file.h: byte offset in a
// plain file, or zstd frame + offset in the frame's text) and its length. The
// stage finds the users already done from it and writes its final per-rank
// files by copying those lines in user order, so its memory is a few bytes
// per user instead of the records (about 25 KB per user with the offline
// writer; the scaling study measured 6.4 GB at 300k users before).
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string_view>
#include <vector>

#include "core/fs.h"
#include "io/line_file.h"

namespace personas {

class RecordIndex {
 public:
  // Users with selection index in [lo, hi).
  RecordIndex(std::int64_t lo, std::int64_t hi);

  // Reads every line of a memories/failed/part JSONL file, plain or .zst
  // (each line is validated as a record; errors name file:line). Records of
  // users outside [lo, hi) are ignored. An incomplete end (a killed writer's
  // last line without newline, or its cut zstd frame) is ignored with a
  // warning: those users are redone. With `replace`, the file's records
  // replace what is known (this run's results); otherwise a success replaces
  // a failure and the first record wins (files of earlier runs).
  void scan(const fs::path& file, bool replace);

  // A file this run writes itself: its records are added with put() as they
  // are written (no re-reading); set its zstd frame bounds once it is closed.
  std::int32_t add_file(const fs::path& file);
  void set_frame_bounds(std::int32_t file, std::vector<std::uint64_t> bounds);
  // This run's record of user `index` (replaces what is known).
  void put(std::int64_t index, bool failed, std::int32_t file, const LinePlace& place);

  bool has(std::int64_t index) const;
  bool failed(std::int64_t index) const;
  // Every user of the block has a successful record in `file`.
  bool all_ok_in(std::int32_t file) const;

  // Gives the lines of the users whose record failed (or not), in user
  // order; returns how many.
  std::int64_t copy_lines(const std::function<void(std::string_view)>& emit, bool failed) const;
  std::int64_t copy_lines(std::ostream& out, bool failed) const;

 private:
  struct Location {  // 24 bytes: one per user of the block
    std::uint64_t offset = 0;
    std::int32_t file = -1;
    std::uint32_t frame = LinePlace::kNoFrame;
    std::uint32_t length = 0;
    bool failed = false;
  };
  struct File {
    fs::path path;
    std::vector<std::uint64_t> frame_bounds;
  };
  std::int64_t lo_;
  std::vector<Location> at_;
  std::vector<File> files_;
};

}  // namespace personas
