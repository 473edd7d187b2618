// Which persona each user belongs to, for the per-persona metrics.
//
// Read tolerantly from the cluster stage's output, whatever of these exists:
//   RUN/cluster/assignments.jsonl, RUN/cluster/assignments-rank-*.jsonl
//     one object per user: {"user": <source id>, "persona": <k>}
//     ("user_id" for "user", "cluster" or "label" for "persona" are accepted)
// Without cluster output, the planted personas of synthetic data
// (User::true_persona) are used when present; else every user is -1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/run_dir.h"
#include "data/dataset.h"

namespace personas {

struct PersonaAssignment {
  std::vector<std::int32_t> persona_of_user;  // indexed like Dataset::users
  std::string source;                         // "cluster", "planted" or "none"
  std::int64_t n_missing = 0;                 // this rank's users the cluster output did not name
};

PersonaAssignment read_persona_assignments(const RunDir& run, const Dataset& data);

}  // namespace personas
