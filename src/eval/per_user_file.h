// RUN/eval/per-user.jsonl without gathering users anywhere: each rank appends
// its own users' lines to a part file, predictor by predictor, and notes where
// each predictor's lines begin; at the end rank 0 stitches the parts
// predictor-major, rank-minor. Ranks hold contiguous blocks of the selection,
// so the file is the same for any number of ranks: every predictor's users
// in selection order.
#pragma once

#include <cstdint>
#include <fstream>
#include <vector>

#include "comm/comm.h"
#include "core/fs.h"
#include "core/run_dir.h"
#include "eval/metrics.h"

namespace personas {

class PerUserFile {
 public:
  // Opens this rank's part file (RUN/eval/per-user-part-rank-N.jsonl).
  PerUserFile(const RunDir& run, Comm& comm);
  ~PerUserFile();  // removes the part file (finished or not)
  PerUserFile(const PerUserFile&) = delete;
  PerUserFile& operator=(const PerUserFile&) = delete;

  // Appends the lines of metrics.users (this rank's users) for one predictor.
  void add(const PredictorMetrics& metrics);
  // Collective: rank 0 writes RUN/eval/per-user.jsonl atomically from every part.
  void finish();

  // A part file name; the stage removes leftovers of earlier runs by this prefix.
  static constexpr const char* kPartPrefix = "per-user-part-rank-";

 private:
  fs::path part_path(int rank) const;

  const RunDir& run_;
  Comm& comm_;
  fs::path part_;
  std::ofstream out_;
  std::vector<std::int64_t> starts_;  // byte offset of each predictor's first line
};

}  // namespace personas
