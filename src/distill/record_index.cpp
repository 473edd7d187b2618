#include "distill/record_index.h"

#include <fstream>

#include "core/errors.h"
#include "core/strings.h"
#include "distill/memory_records.h"

namespace personas {

RecordIndex::RecordIndex(std::int64_t lo, std::int64_t hi)
    : lo_(lo), at_(static_cast<std::size_t>(std::max<std::int64_t>(hi - lo, 0))) {}

void RecordIndex::scan(const fs::path& file, bool replace) {
  std::ifstream in(file, std::ios::binary);
  PERSONAS_CHECK(in, io, "cannot open '{}' for reading", file.string());
  const auto file_id = static_cast<std::int32_t>(files_.size());
  files_.push_back(file);
  std::string line;
  std::uint64_t offset = 0;
  for (std::size_t line_no = 1; std::getline(in, line); ++line_no) {
    const std::uint64_t start = offset;
    offset += line.size() + 1;
    if (trim(line).empty()) continue;
    const std::string where = fmt::format("{}:{}", file.string(), line_no);
    nlohmann::json object;
    try {
      object = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::data, fmt::format("{}: not valid JSON: {}", where, e.what()));
    }
    const MemoryRecord r = record_from_json(object, where);
    const std::int64_t slot = r.index - lo_;
    if (slot < 0 || slot >= static_cast<std::int64_t>(at_.size())) continue;
    Location& known = at_[static_cast<std::size_t>(slot)];
    if (!replace && known.file >= 0 && !(known.failed && !r.failed)) continue;
    known = {file_id, r.failed, start, line.size()};
  }
}

bool RecordIndex::has(std::int64_t index) const {
  const std::int64_t slot = index - lo_;
  return slot >= 0 && slot < static_cast<std::int64_t>(at_.size()) && at_[static_cast<std::size_t>(slot)].file >= 0;
}

bool RecordIndex::failed(std::int64_t index) const {
  return has(index) && at_[static_cast<std::size_t>(index - lo_)].failed;
}

std::int64_t RecordIndex::copy_lines(std::ostream& out, bool failed) const {
  std::int64_t copied = 0;
  std::int32_t open_id = -1;
  std::ifstream in;
  std::string buffer;
  for (const Location& at : at_) {
    if (at.file < 0 || at.failed != failed) continue;
    if (at.file != open_id) {  // users of one part file come one after another
      in.close();
      in.clear();
      in.open(files_[static_cast<std::size_t>(at.file)], std::ios::binary);
      PERSONAS_CHECK(in, io, "cannot reopen '{}'", files_[static_cast<std::size_t>(at.file)].string());
      open_id = at.file;
    }
    buffer.resize(at.length);
    in.seekg(static_cast<std::streamoff>(at.offset));
    in.read(buffer.data(), static_cast<std::streamsize>(at.length));
    PERSONAS_CHECK(in, io, "'{}' changed while the distill stage read it (offset {})",
                   files_[static_cast<std::size_t>(at.file)].string(), at.offset);
    out << buffer << '\n';
    ++copied;
  }
  return copied;
}

}  // namespace personas
