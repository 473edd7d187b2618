// What distillation produces per user (stage 1 of PAPER.md), as read by the
// later stages: the profile (short-term memory Ms, with the three Agent4Rec
// traits) and one "why I rated it so" note per training-period item
// (long-term memory Ml). Stored in RUN/distill/memories-rank-0000r.jsonl
// (one JSON object per user; docs/formats.md).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "comm/comm.h"
#include "core/run_dir.h"

namespace personas {

struct ItemNote {
  std::int32_t item = 0;   // index into Dataset::items
  float rating = 0;        // the user's own (training-period) rating
  std::string text;        // "I rated <movie> as <r> because ..."
};

struct UserMemory {
  std::int64_t user_id = 0;
  std::string activity;    // trait sentence (Agent4Rec wording)
  std::string conformity;  // trait sentence
  std::string diversity;   // trait sentence
  std::string profile;     // first-person description of likes and dislikes
  std::vector<ItemNote> notes;  // training period only, time order
  std::string provider;    // "offline", "openai", "local"
  std::string model;       // model name used (or "offline")
  std::string prompt_version;
};

// RUN/distill/<name>-rank-0000r.jsonl or .jsonl.zst (distill.compress),
// whichever exists (the .jsonl name when neither does); name = "memories" or
// "failed". Every reader of the stage's files finds them here and reads them
// with read_jsonl (io/jsonl.h), which takes either form.
fs::path distill_rank_file(const RunDir& run, const std::string& name, int rank);

// Collective: this rank's block of users (same block as load_dataset), in
// selection order. Users that failed distillation are absent. With `keep`,
// only users whose selection index it accepts are parsed and returned (the
// others' lines are skipped unparsed: a sample costs little more than reading).
std::vector<UserMemory> load_memories(const RunDir& run, Comm& comm,
                                      const std::function<bool(std::int64_t)>& keep = {});

// Streaming form of load_memories for readers whose memory must not grow with
// the users (`personas samples`): visits this rank's records one at a time,
// in file order, with each record's selection index; only one record is held.
// The distill files hold their users in selection order, so the visits come
// in ascending index order for a finished distill run (readers that rely on
// it should check). Same block, `keep` and failed-user rules as load_memories.
void visit_memories(const RunDir& run, Comm& comm, const std::function<bool(std::int64_t)>& keep,
                    const std::function<void(std::int64_t index, UserMemory&& memory)>& visit);

// The "index" (selection index) of a record's JSON line without parsing it;
// nullopt when the line has none at top level before its first object or array.
std::optional<std::int64_t> record_index_of(std::string_view line);

}  // namespace personas
