#include "pipeline/stage_gate.h"

#include <fmt/format.h>

#include <chrono>

#include "pipeline/stages.h"

namespace personas {

StageVerdict stage_verdict(const RunDir& run, Comm& comm, const std::string& stage, const std::string& config_hash,
                           bool force) {
  const bool always_redo = pipeline_stages()[stage_index(stage)].always_redo;
  std::string text;
  if (comm.is_root()) {
    const auto on_disk = run.done_marker(stage);
    text = on_disk ? on_disk->dump() : std::string();
  }
  comm.broadcast_string(text, 0);
  StageVerdict v;
  if (!text.empty()) v.marker = nlohmann::json::parse(text);
  const std::string held = v.marker ? v.marker->value("config_hash", "") : "";
  if (force) {
    v.reason = "redone on request";
  } else if (always_redo) {
    v.reason = "redone every time";
  } else if (!v.marker) {
    v.reason = "starting";
  } else if (held == config_hash) {
    v.run = false;
    v.reason = "done already with this configuration, skipped";
  } else {
    v.reason = fmt::format("stale (config hash {} -> {}), redoing", held.empty() ? "?" : held, config_hash);
  }
  return v;
}

StageRun run_stage_body(const RunDir& run, Comm& comm, const std::string& stage, const std::string& config_hash,
                        const std::function<void()>& body) {
  if (comm.is_root()) run.clear_done(stage);
  comm.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  body();
  comm.barrier();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool room_marks_done = pipeline_stages()[stage_index(stage)].room_marks_done;
  int done = 0;
  if (comm.is_root()) {
    auto facts = run.done_marker(stage);
    if (facts || !room_marks_done) {
      if (!facts) facts = nlohmann::json::object();
      (*facts)["seconds"] = seconds;
      (*facts)["n_ranks"] = comm.size();
      run.mark_done(stage, config_hash, *facts);
      done = 1;
    }
  }
  comm.broadcast(&done, sizeof done, 0);
  return {done == 1, seconds};
}

}  // namespace personas
