// The run directory: one folder per run, one sub-folder per stage, and a DONE
// marker per stage holding the hash of the configuration that produced it.
//
//   RUN/config.ini              resolved configuration (written by rank 0)
//   RUN/<stage>/...             the stage's outputs (per-rank files: name-rank-00003.ext)
//   RUN/<stage>/DONE            JSON: {"stage", "config_hash", "finished_at", "n_ranks", ...}
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "core/fs.h"

namespace personas {

class RunDir {
 public:
  explicit RunDir(fs::path root);
  const fs::path& root() const { return root_; }
  fs::path stage_dir(const std::string& stage) const { return root_ / stage; }
  // Creates RUN/<stage>/ and returns it.
  fs::path ensure_stage_dir(const std::string& stage) const;
  fs::path rank_file(const std::string& stage, const std::string& name, int rank, const std::string& ext) const;

  // The DONE marker's content, if the stage finished.
  std::optional<nlohmann::json> done_marker(const std::string& stage) const;
  // True when the stage finished with exactly this config hash.
  bool is_done(const std::string& stage, const std::string& config_hash) const;
  // Writes RUN/<stage>/DONE atomically (call on rank 0 after a barrier).
  void mark_done(const std::string& stage, const std::string& config_hash, nlohmann::json extra = {}) const;
  // Removes the marker (a stage being redone is not "done" meanwhile).
  void clear_done(const std::string& stage) const;

 private:
  fs::path root_;
};

}  // namespace personas
