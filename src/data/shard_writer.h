// Streaming writers of the prepared data set files (format: docs/data.md).
// UserShardWriter appends users and their interactions chunk by chunk to
// extendable HDF5 datasets, so a rank never holds all its users at once; the
// file appears under its final name only when finish() succeeds.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/fs.h"
#include "data/dataset.h"

namespace personas {

namespace h5 {
class File;
}

inline constexpr const char* kDatasetFormat = "personas-dataset/1";

class UserShardWriter {
 public:
  // `first_user`: selection index of the first user this file will hold.
  UserShardWriter(fs::path final_path, std::int64_t first_user, int rank, int n_ranks);
  ~UserShardWriter();  // removes the temp file unless finish() ran
  UserShardWriter(const UserShardWriter&) = delete;
  UserShardWriter& operator=(const UserShardWriter&) = delete;

  // Appends users and their interactions. `interactions` holds exactly the
  // interactions of `users`, in order; each User::first is ignored (offsets are
  // recomputed) but n_train/n_test must add up to interactions.size().
  void append(std::span<const User> users, std::span<const Interaction> interactions);
  // Writes the counts, closes and renames the file to its final name.
  void finish();

  std::int64_t n_users() const { return n_users_; }
  std::int64_t n_interactions() const { return n_interactions_; }

 private:
  struct Column;
  fs::path final_path_;
  fs::path temp_path_;
  std::int64_t first_user_;
  std::int64_t n_users_ = 0;
  std::int64_t n_interactions_ = 0;
  std::map<std::string, std::int32_t> occupation_index_;
  std::vector<std::string> occupations_;
  std::unique_ptr<h5::File> file_;
  std::vector<std::unique_ptr<Column>> columns_;
  bool finished_ = false;
};

// What items.h5 holds besides the items themselves.
struct ItemsFileInfo {
  std::string source;
  std::int64_t n_users_total = 0;
  std::int64_t n_interactions_total = 0;
  int n_writer_ranks = 1;
};

// Writes RUN/prepare/items.h5 atomically (rank 0). `extra` may add datasets
// (e.g. the synthetic personas' genre tastes) before the file is closed.
void write_items_file(const fs::path& path, const std::vector<std::string>& genre_names,
                      const std::vector<Item>& items, const ItemsFileInfo& info,
                      const std::function<void(h5::File&)>& extra = {});

}  // namespace personas
