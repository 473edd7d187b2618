// Embedding files of RUN/embed/ (docs/clustering.md):
//   profiles-rank-0000r.h5   /user_id int64 [n], /vectors f32 [n, dim];
//                            attributes first_user (selection index of row 0),
//                            n_users_total, dim, embedder, features
//   notes-rank-0000r.h5      /user_id int64 [m], /item int32 [m], /rating f32 [m], /vectors f32 [m, dim]
//   items.h5                 /vectors f32 [n_items, dim] (row = index into Dataset::items)
//   tfidf-profiles.h5, tfidf-retrieval.h5   hashed TF-IDF tables (hashed embedder only)
//   embed.json               what made the vectors
// Readers reshard: a run with any number of ranks gets its own block of users.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "core/run_dir.h"

namespace personas {

struct UserVectors {
  std::int64_t first_user = 0;       // selection index of row 0
  std::int64_t n_users_total = 0;
  int dim = 0;
  std::vector<std::int64_t> user_ids;
  std::vector<float> vectors;        // [user_ids.size(), dim]
  std::string embedder;
  std::string features;
};

// Collective: every rank writes its block to profiles-rank-<r>.h5.
void write_profile_vectors(const RunDir& run, const UserVectors& block, Comm& comm);
// Collective: this rank's block (block_range over comm.size()) read from
// whatever number of files the embed stage wrote.
UserVectors load_profile_vectors(const RunDir& run, Comm& comm);

}  // namespace personas
