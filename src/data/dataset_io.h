// Reading and writing the prepared data set (RUN/prepare/).
// Layout (docs/formats.md has the full table):
//   RUN/prepare/items.h5                 items, genre names, source (rank 0)
//   RUN/prepare/users-rank-0000r.h5      users + interactions of rank r's block
//   RUN/prepare/DONE                     marker with config hash and counts
// A reader with any number of ranks gets its own block of the selection,
// whatever number of ranks wrote the files.
#pragma once

#include "comm/comm.h"
#include "core/run_dir.h"
#include "data/dataset.h"

namespace personas {

// Collective: every rank writes its block; rank 0 writes the items.
void write_dataset(const RunDir& run, const Dataset& shard, Comm& comm);

// Collective: this rank's block of users for comm.size() ranks, with all items.
Dataset load_dataset(const RunDir& run, Comm& comm);

}  // namespace personas
