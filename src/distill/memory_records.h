// One line of the distill stage's files (docs/distill.md has the format):
//   memories-rank-0000r.jsonl  {"index", "user_id", "activity", "conformity", "diversity",
//                               "profile", "notes": [{"item", "item_id", "rating", "text"}],
//                               "provider", "model", "prompt_version"}
//   failed-rank-0000r.jsonl    {"index", "user_id", "failed": true, "reason", ...}
//   parts/part-....jsonl       progress chunks of a running stage: either kind of line
// "index" is the user's position in the selection (what ranks shard).
#pragma once

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "distill/memories.h"

namespace personas {

struct MemoryRecord {
  std::int64_t index = 0;
  bool failed = false;
  std::string reason;       // when failed
  UserMemory memory;        // user_id always set; the rest when not failed
};

// `items` gives item ids for readability; pass nullptr to omit them.
nlohmann::json record_to_json(const MemoryRecord& record, const std::vector<Item>* items);
// The same as record_to_json(record, items).dump(), byte for byte, written
// directly (record_line.cpp): the distill stage's hot path.
std::string record_to_line(const MemoryRecord& record, const std::vector<Item>* items);
// ErrorKind::data naming `where` (file:line) on a malformed line.
MemoryRecord record_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace personas
