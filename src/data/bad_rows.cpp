#include "data/bad_rows.h"

#include "core/errors.h"
#include "core/log.h"

namespace personas {

void BadRows::report_message(const std::string& file, std::int64_t line, const std::string& message) {
  std::string where = line > 0 ? fmt::format("{}:{}", file, line) : file;
  if (!skip_) {
    fail(ErrorKind::data, fmt::format("{}: {}", where, message),
         "fix the row, or set data.on_bad_row = skip to drop malformed rows with a warning");
  }
  auto& entry = per_file_[file];
  if (entry.count++ == 0) entry.first = fmt::format("{}: {}", where, message);
}

void BadRows::warn_summary() const {
  for (const auto& [file, entry] : per_file_) {
    plog::warn("skipped {} bad row(s) in {} (data.on_bad_row = skip); first: {}", entry.count, file, entry.first);
  }
}

std::int64_t BadRows::skipped() const {
  std::int64_t total = 0;
  for (const auto& [file, entry] : per_file_) total += entry.count;
  return total;
}

}  // namespace personas
