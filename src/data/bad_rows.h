// What to do with a malformed input row: stop with an error naming file:line
// (data.on_bad_row = error, the default), or skip it, count it and warn once
// per file at the end (data.on_bad_row = skip).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <string>

namespace personas {

class BadRows {
 public:
  explicit BadRows(bool skip) : skip_(skip) {}
  // Reports a bad row: throws ErrorKind::data "file:line: message" unless
  // skipping, in which case it counts it (the caller then drops the row).
  template <class... Args>
  void report(const std::string& file, std::int64_t line, fmt::format_string<Args...> format, Args&&... args) {
    report_message(file, line, fmt::format(format, std::forward<Args>(args)...));
  }
  void report_message(const std::string& file, std::int64_t line, const std::string& message);
  // Logs one warning per file with the count and the first example.
  void warn_summary() const;
  std::int64_t skipped() const;
  bool skipping() const { return skip_; }

 private:
  struct PerFile {
    std::int64_t count = 0;
    std::string first;
  };
  bool skip_;
  std::map<std::string, PerFile> per_file_;
};

}  // namespace personas
