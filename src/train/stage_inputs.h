// What the train stage reads from earlier stages besides the data set and the
// memories, read tolerantly (the producing stages own the formats; see
// docs/training.md for what is accepted):
//  * personas per user: RUN/cluster/assignments.jsonl or
//    assignments-rank-*.jsonl, one {"user": <source id>, "persona": <k>} per
//    line ("user_id", "cluster", "label" accepted); without them, the planted
//    personas of synthetic data; else an error for train.mode = persona.
//  * item vectors for retrieval: RUN/embed/items.h5 (a [n_items, dim] float
//    dataset named items, vectors or embeddings); without it, genre/era
//    features (train/retrieval.h).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/run_dir.h"
#include "data/dataset.h"
#include "train/retrieval.h"

namespace personas {

struct UserPersonas {
  std::vector<std::int32_t> persona_of_user;  // indexed like Dataset::users; -1 = unknown
  std::string source;                         // "cluster", "planted" or "none"
  std::int64_t n_missing = 0;                 // source cluster: this rank's users the assignments do not name
};

UserPersonas read_user_personas(const RunDir& run, const Dataset& data);

// The cluster stage's personas by source user id (read once; 16 bytes per user
// of the selection), for readers that go over their users in chunks; empty
// when RUN/cluster holds no assignments.
struct PersonaTable {
  std::vector<std::pair<std::int64_t, std::int32_t>> by_id;  // sorted by id, one entry per id
  bool present = false;                                      // assignment files were found
  bool empty() const { return !present; }
  std::int32_t find(std::int64_t user_id) const;  // -1 when absent
};
PersonaTable read_persona_table(const RunDir& run);
// read_user_personas with the table already read: the table's personas when
// it is not empty, else the planted ones, else none.
UserPersonas user_personas(const PersonaTable& table, const Dataset& data);

ItemVectors read_item_vectors(const RunDir& run, const Dataset& data);

}  // namespace personas
