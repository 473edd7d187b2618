// Resume for agent scoring: each rank appends the ratings of every finished
// chunk of users to RUN/eval/agents/<predictor>-<key>-rank-N.jsonl, so an
// agent run that takes hours (a real base model on a CPU) goes on where it
// stopped when the same command is rerun, for any rank count.
//
// The key names everything the ratings depend on (the eval stage's config
// hash, which covers every upstream stage, and the base's weight
// fingerprint); files of the same predictor with another key are removed by
// rank 0 before anything is written. A user counts as done only once its
// closing line ({"done": user_id, "n": ratings}) is in the file, so a write
// torn by kill -9 loses at most that chunk, never half a user.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "comm/comm.h"
#include "core/fs.h"
#include "data/dataset.h"
#include "eval/agent_scoring.h"

namespace personas {

class AgentJournal {
 public:
  // Collective (rank 0 clears stale files, then every rank reads).
  AgentJournal(const fs::path& run_dir, const std::string& predictor, const std::string& key, Comm& comm);

  // The finished users' ratings from every rank's file (any earlier rank count),
  // by user id; `user` indices are mapped onto `data` (this rank's block), so
  // only this rank's users are returned.
  std::unordered_map<std::int64_t, std::vector<AgentRating>> finished(const Dataset& data) const;

  // Appends the ratings of whole users (every rating of each user in `ratings`)
  // and their closing lines in one write, then flushes to disk.
  void append(const std::vector<AgentRating>& ratings, const Dataset& data) const;

  const fs::path& path() const { return path_; }

 private:
  fs::path dir_;
  std::string stem_;  // <predictor>-<key>
  fs::path path_;     // this rank's file
};

}  // namespace personas
