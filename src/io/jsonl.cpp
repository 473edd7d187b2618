#include "io/jsonl.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/errors.h"
#include "core/strings.h"
#include "io/line_file.h"

namespace personas {

JsonlAppender::JsonlAppender(const fs::path& path, bool truncate) : path_(path) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  out_.open(path, truncate ? std::ios::trunc : std::ios::app);
  PERSONAS_CHECK(out_.good(), io, "cannot open '{}' for appending", path.string());
}

void JsonlAppender::write(const nlohmann::json& object) {
  out_ << object.dump() << '\n';
  out_.flush();
  PERSONAS_CHECK(out_.good(), io, "cannot write to '{}' (disk full?)", path_.string());
}

void read_jsonl(const fs::path& path, const std::function<void(const nlohmann::json&, std::size_t)>& visit) {
  read_jsonl(path, {}, visit);
}

void read_jsonl(const fs::path& path, const std::function<bool(std::string_view)>& want,
                const std::function<void(const nlohmann::json&, std::size_t)>& visit) {
  // Line by line, plain or zstd (io/line_file.h): these files reach gigabytes
  // (distill's memories at 1M users: 4 GB per rank), which must not be read
  // into one string.
  scan_lines(path, /*tolerate_truncated_tail=*/false, [&](std::string_view line, const LinePlace&, std::size_t line_no) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) return;
    if (want && !want(line)) return;
    nlohmann::json object;
    try {
      object = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::data, fmt::format("{}:{}: not valid JSON: {}", path.string(), line_no, e.what()));
    }
    visit(object, line_no);
  });
}

}  // namespace personas
