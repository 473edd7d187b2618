// `personas embed` (stage 2a): profile vectors for clustering, item and note
// vectors for retrieval. In-memory core plus the RunDir glue.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "core/run_dir.h"
#include "data/dataset.h"
#include "distill/memories.h"
#include "embed/embed_settings.h"
#include "embed/embedder.h"
#include "embed/embedding_store.h"

namespace personas {


// The text describing an item for retrieval: "Title (1995). Genres: Action, Comedy."
std::string item_text(const Dataset& dataset, const Item& item);
// The text of a profile for clustering: the profile and the three trait sentences.
std::string profile_text(const UserMemory& memory);

struct NoteVectors {
  std::vector<std::int64_t> user_ids;
  std::vector<std::int32_t> items;
  std::vector<float> ratings;
  std::vector<float> vectors;  // [n, dim]
  int dim = 0;
};

struct EmbedResult {
  UserVectors profiles;           // this rank's users, selection order
  std::vector<float> items;       // [n_items, item_dim] (when embed.items)
  int item_dim = 0;
  NoteVectors notes;              // this rank's notes (when embed.notes)
  std::int64_t users_without_profile = 0;  // this rank
  std::unique_ptr<Embedder> profile_embedder;    // fitted (saved by the stage)
  std::unique_ptr<Embedder> retrieval_embedder;  // fitted
  EmbedResult();
  ~EmbedResult();
  EmbedResult(EmbedResult&&) noexcept;
  EmbedResult& operator=(EmbedResult&&) noexcept;
};

// Collective. `memories` (this rank's users, any order, some may be missing) is
// needed for text features and notes; nullptr = none available.
EmbedResult embed_users(const EmbedSettings& config, const Dataset& dataset, const std::vector<UserMemory>* memories,
                        Comm& comm);

// Reads RUN/prepare (and RUN/distill when needed), embeds, writes RUN/embed/, marks DONE.
void embed_stage(const EmbedSettings& config, const RunDir& run, Comm& comm, const std::string& config_hash);

}  // namespace personas
