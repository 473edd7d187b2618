// `personas distill` on one rank's shard: every user of the block gets a
// profile and notes (offline writer or an OpenAI-compatible LLM), written to
// RUN/distill/ so that a killed run, restarted, finishes every user exactly
// once without new calls for users already done.
//
// Progress: finished users are saved in chunks (distill.users_per_chunk) as
// RUN/distill/parts/part-<lo>-<hi>-r<rank>-<nonce>-<seq>.jsonl, each written
// atomically. At the end every rank writes memories-rank-0000r.jsonl (its
// block, selection order) and failed-rank-0000r.jsonl, then rank 0 removes
// the parts and writes DONE. A restart reads parts and final files of any
// earlier rank count (records carry the selection index).
#pragma once

#include <cstdint>
#include <string>

#include "core/backend_kind.h"
#include "model/device_dtype_setting.h"
#include "comm/comm.h"
#include "core/run_dir.h"
#include "data/dataset.h"
#include "distill/distill_config.h"

namespace personas {

struct DistillRunOptions {
  bool retry_failed = false;         // redo only the users recorded as failed
  std::string upstream_hash;         // the prepare stage's config hash
  std::int64_t seed = 1234;          // sent to the endpoint as "seed"; seeds the local engine's sampling
  // distill.provider = local: the [model] checkpoint (model.path, or
  // RUN/model/base.h5), its longest sequence and the backend ([run] backend).
  std::string local_checkpoint;
  int local_max_seq = 512;
  std::string local_chat_template;  // model.chat_template ("" = the checkpoint's)
  DeviceDtypeSetting local_device_dtype = DeviceDtypeSetting::automatic;  // model.device_dtype
  BackendKind backend = BackendKind::automatic;
  // Tests only: stop (as if killed, without finishing) once this rank saved
  // at least this many users in this run. -1 = never.
  std::int64_t stop_after_users = -1;
};

struct DistillSummary {
  bool skipped = false;              // already done with this configuration
  std::int64_t users_total = 0;      // the whole selection
  std::int64_t users_ok = 0;         // all ranks
  std::int64_t users_failed = 0;     // all ranks
  std::int64_t users_done_now = 0;   // processed in this run, all ranks
  std::int64_t users_resumed = 0;    // found done from an earlier run, all ranks
  std::int64_t calls = 0;            // chat requests, all ranks
  std::int64_t prompt_tokens = 0, completion_tokens = 0;
  double cost_usd = 0;
  std::string config_hash;
};

// Collective.
DistillSummary run_distill(const RunDir& run, const Dataset& data, const DistillConfig& config,
                           const DistillRunOptions& options, Comm& comm);

}  // namespace personas
