// JSON Lines: one object per line. Readers name file:line on a bad line.
#pragma once

#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>
#include <string>

#include "core/fs.h"

namespace personas {

// Appends objects to a file, one per line, flushing each (metrics logs).
class JsonlAppender {
 public:
  explicit JsonlAppender(const fs::path& path, bool truncate = false);
  void write(const nlohmann::json& object);
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  std::ofstream out_;
};

// Calls `visit(object, line_no)` for each line; blank lines are skipped.
// A name ending in ".zst" is read as zstd (io/line_file.h).
void read_jsonl(const fs::path& path, const std::function<void(const nlohmann::json&, std::size_t)>& visit);

// As above, but a line for which want(line) is false is skipped without being
// parsed (e.g. a sample of users out of gigabytes of records).
void read_jsonl(const fs::path& path, const std::function<bool(std::string_view)>& want,
                const std::function<void(const nlohmann::json&, std::size_t)>& visit);

}  // namespace personas
