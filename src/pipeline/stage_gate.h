// The one place that decides whether a pipeline stage runs and that stamps its
// DONE marker, for `personas run` and for every stage command run alone, so
// that the two agree: a stage done by `run` is skipped by `personas embed`
// and the other way round, and a changed key of a hashed section redoes it.
//
// Rank 0 reads RUN/<stage>/DONE and broadcasts it: every rank takes the same
// branch even while rank 0, ahead, clears the marker for a redo.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>

#include "comm/comm.h"
#include "core/run_dir.h"

namespace personas {

struct StageVerdict {
  bool run = true;                       // false: done with this configuration, skip it
  std::string reason;                    // for the log: "done already ...", "stale (config hash a -> b)", ...
  std::optional<nlohmann::json> marker;  // the DONE marker as rank 0 read it
};

// force: redo whatever the marker says (run.from, --force, --retry-failed).
// A stage marked always_redo in pipeline_stages() (report) always runs.
StageVerdict stage_verdict(const RunDir& run, Comm& comm, const std::string& stage, const std::string& config_hash,
                           bool force);

struct StageRun {
  bool done = false;  // DONE was written
  double seconds = 0;
};

// Clears the marker, runs `body` on every rank, then (rank 0) stamps DONE with
// `config_hash`, the wall seconds and the rank count, keeping the facts the
// stage's room wrote into its own marker (counts, costs). A body that throws
// leaves no DONE; so does a room_marks_done stage whose room wrote none.
StageRun run_stage_body(const RunDir& run, Comm& comm, const std::string& stage, const std::string& config_hash,
                        const std::function<void()>& body);

}  // namespace personas
