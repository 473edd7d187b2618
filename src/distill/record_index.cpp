#include "distill/record_index.h"

#include <memory>

#include "core/errors.h"
#include "core/strings.h"
#include "distill/memory_records.h"

namespace personas {

RecordIndex::RecordIndex(std::int64_t lo, std::int64_t hi)
    : lo_(lo), at_(static_cast<std::size_t>(std::max<std::int64_t>(hi - lo, 0))) {}

void RecordIndex::scan(const fs::path& file, bool replace) {
  const auto file_id = add_file(file);
  // Records are taken once their lines are known complete (a zstd frame may
  // turn out to be cut short at the end of the file).
  std::vector<std::pair<std::size_t, Location>> pending;
  auto visit = [&](std::string_view line, const LinePlace& place, std::size_t line_no) {
    if (trim(line).empty()) return;
    const std::string where = fmt::format("{}:{}", file.string(), line_no);
    nlohmann::json object;
    try {
      object = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::data, fmt::format("{}: not valid JSON: {}", where, e.what()));
    }
    const MemoryRecord r = record_from_json(object, where);
    const std::int64_t slot = r.index - lo_;
    if (slot < 0 || slot >= static_cast<std::int64_t>(at_.size())) return;
    pending.emplace_back(static_cast<std::size_t>(slot), Location{place.offset, file_id, place.frame, place.length, r.failed});
  };
  auto commit = [&] {
    for (const auto& [slot, found] : pending) {
      Location& known = at_[slot];
      if (!replace && known.file >= 0 && !(known.failed && !found.failed)) continue;
      known = found;
    }
    pending.clear();
  };
  auto result = scan_lines(file, /*tolerate_truncated_tail=*/true, visit, commit);
  files_[static_cast<std::size_t>(file_id)].frame_bounds = std::move(result.frame_bounds);
}

std::int32_t RecordIndex::add_file(const fs::path& file) {
  files_.push_back({file, {}});
  return static_cast<std::int32_t>(files_.size() - 1);
}

void RecordIndex::set_frame_bounds(std::int32_t file, std::vector<std::uint64_t> bounds) {
  files_.at(static_cast<std::size_t>(file)).frame_bounds = std::move(bounds);
}

void RecordIndex::put(std::int64_t index, bool failed, std::int32_t file, const LinePlace& place) {
  const std::int64_t slot = index - lo_;
  PERSONAS_ASSERT(slot >= 0 && slot < static_cast<std::int64_t>(at_.size()), "RecordIndex::put: user {} outside the block",
                  index);
  at_[static_cast<std::size_t>(slot)] = {place.offset, file, place.frame, place.length, failed};
}

bool RecordIndex::has(std::int64_t index) const {
  const std::int64_t slot = index - lo_;
  return slot >= 0 && slot < static_cast<std::int64_t>(at_.size()) && at_[static_cast<std::size_t>(slot)].file >= 0;
}

bool RecordIndex::failed(std::int64_t index) const {
  return has(index) && at_[static_cast<std::size_t>(index - lo_)].failed;
}

bool RecordIndex::all_ok_in(std::int32_t file) const {
  for (const Location& at : at_)
    if (at.file != file || at.failed) return false;
  return true;
}

std::int64_t RecordIndex::copy_lines(const std::function<void(std::string_view)>& emit, bool failed) const {
  std::int64_t copied = 0;
  // One reader per file, opened when first needed: a retried user's record
  // lies in another file than its neighbours', and a zstd reader keeps its
  // last decompressed frame for the next user.
  std::vector<std::unique_ptr<LineFetcher>> readers(files_.size());
  for (const Location& at : at_) {
    if (at.file < 0 || at.failed != failed) continue;
    auto& in = readers[static_cast<std::size_t>(at.file)];
    if (!in) {
      const File& f = files_[static_cast<std::size_t>(at.file)];
      in = std::make_unique<LineFetcher>(f.path, f.frame_bounds);
    }
    emit(in->fetch(LinePlace{at.frame, at.offset, at.length}));
    ++copied;
  }
  return copied;
}

std::int64_t RecordIndex::copy_lines(std::ostream& out, bool failed) const {
  return copy_lines([&](std::string_view line) { out << line << '\n'; }, failed);
}

}  // namespace personas
