// Reading and writing the prepared data set (RUN/prepare/).
// Layout (docs/data.md has the full table):
//   RUN/prepare/items.h5                 items, genre names, source, shard table (rank 0)
//   RUN/prepare/users-rank-0000r.h5      users + interactions of rank r's block
//   RUN/prepare/DONE                     marker with config hash and counts
// A reader with any number of ranks gets its own block of the selection,
// whatever number of ranks wrote the files.
#pragma once

#include <functional>
#include <string>

#include "comm/comm.h"
#include "core/run_dir.h"
#include "data/dataset.h"

namespace personas {

namespace h5 {
class File;
}

inline constexpr const char* kPrepareStage = "prepare";

// Collective: every rank writes its block (shard.users, which must start at
// selection index shard.first_user); rank 0 writes the items (with their
// statistics, which must already be global) and the shard table. Stale
// per-rank files of an earlier run with more ranks are removed. Does not write
// DONE: call mark_prepare_done after it.
void write_dataset(const RunDir& run, const Dataset& shard, Comm& comm);

// Collective: this rank's block of users for comm.size() ranks, with all items.
Dataset load_dataset(const RunDir& run, Comm& comm);

// The two halves of load_dataset, for readers that go over their block in
// chunks of users (memory bounded by a chunk, e.g. `personas samples`):
// load_dataset_items gives the header and all items, no users;
// load_dataset_users replaces ds.users and ds.interactions by users
// [begin, end) of the selection (selection indices) and sets ds.first_user.
// Neither is collective.
Dataset load_dataset_items(const RunDir& run);
void load_dataset_users(const RunDir& run, Dataset& ds, std::int64_t begin, std::int64_t end);

// Lower level, for streaming writers (the synthetic generator):
// begin_dataset_write clears DONE and makes the folder (collective);
// users_file_path is where rank r's UserShardWriter writes; and
// finish_dataset_write gathers the shard table and lets rank 0 write items.h5
// (collective). `extra` may add datasets to items.h5.
void begin_dataset_write(const RunDir& run, Comm& comm);
fs::path users_file_path(const RunDir& run, int rank);
void finish_dataset_write(const RunDir& run, Comm& comm, const Dataset& items_only, std::int64_t first_user,
                          std::int64_t n_users, std::int64_t n_interactions,
                          const std::function<void(h5::File&)>& extra = {});

// Collective: rank 0 writes RUN/prepare/DONE with the config hash and the
// counts read back from items.h5 (n_users, n_items, n_interactions, source).
void mark_prepare_done(const RunDir& run, const std::string& config_hash, Comm& comm);

}  // namespace personas
