// Where each user's distillation record lies on disk, without holding the
// records: the file, byte offset and length of its JSON line. The stage finds
// the users already done from it and writes its final per-rank files by
// copying those lines in user order, so its memory is a few bytes per user
// instead of the records (about 25 KB per user with the offline writer; the
// scaling study measured 6.4 GB at 300k users before).
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

#include "core/fs.h"

namespace personas {

class RecordIndex {
 public:
  // Users with selection index in [lo, hi).
  RecordIndex(std::int64_t lo, std::int64_t hi);

  // Reads every line of a memories/failed/part JSONL file (each line is
  // validated as a record; errors name file:line). Records of users outside
  // [lo, hi) are ignored. With `replace`, the file's records replace what is
  // known (this run's results); otherwise a success replaces a failure and
  // the first record wins (files of earlier runs).
  void scan(const fs::path& file, bool replace);

  bool has(std::int64_t index) const;
  bool failed(std::int64_t index) const;

  // Copies the lines of the users whose record failed (or not), in user
  // order; returns how many.
  std::int64_t copy_lines(std::ostream& out, bool failed) const;

 private:
  struct Location {
    std::int32_t file = -1;
    bool failed = false;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };
  std::int64_t lo_;
  std::vector<Location> at_;
  std::vector<fs::path> files_;
};

}  // namespace personas
