// Reading the text files of a ratings source: plain or gzip (detected by the
// magic bytes, so "ratings.tsv.gz" and a gzip without the suffix both work),
// with checks that the bytes are text, and small non-allocating field parsers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/fs.h"

namespace personas {

// The whole file as bytes, gunzipped when it is gzip. ErrorKind::io when it
// cannot be read, ErrorKind::data when a gzip stream is damaged or when the
// bytes hold a NUL (UTF-16 or binary, not a text file), naming file and line.
std::string read_text_source(const fs::path& path);

// Encodings: "utf8" (error naming the line if not valid UTF-8) or "latin1"
// (converted to UTF-8; a file that is already valid UTF-8 is kept as is).
std::string ensure_utf8(const fs::path& path, std::string bytes, std::string_view encoding);

// Walks the lines of a text ('\n' ends a line; a trailing '\r' is dropped).
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  bool next(std::string_view& line);
  std::int64_t line_number() const { return line_; }  // 1-based number of the last line returned

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 0;
};

// Splits `line` on `separator` into at most N fields; returns the number of
// fields found (which may exceed N: the extra ones are not stored).
template <std::size_t N>
std::size_t split_fields(std::string_view line, std::string_view separator, std::array<std::string_view, N>& out) {
  std::size_t count = 0, start = 0;
  while (true) {
    auto end = line.find(separator, start);
    auto field = line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (count < N) out[count] = field;
    ++count;
    if (end == std::string_view::npos) break;
    start = end + separator.size();
  }
  return count;
}

// Strict parsers: the whole field (after trimming spaces) must be the number.
bool parse_int64(std::string_view text, std::int64_t& value);
bool parse_double(std::string_view text, double& value);  // rejects nan/inf

}  // namespace personas
