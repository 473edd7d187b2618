#include "io/jsonl.h"

#include "core/errors.h"
#include "core/strings.h"

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
  auto text = read_file(path);
  std::size_t line_no = 0;
  for (auto line : split_lines(text)) {
    ++line_no;
    if (trim(line).empty()) continue;
    nlohmann::json object;
    try {
      object = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::data, fmt::format("{}:{}: not valid JSON: {}", path.string(), line_no, e.what()));
    }
    visit(object, line_no);
  }
}

}  // namespace personas
