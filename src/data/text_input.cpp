#include "data/text_input.h"

#include <zlib.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "core/errors.h"
#include "core/strings.h"

namespace personas {

namespace {

std::int64_t line_of(std::string_view bytes, std::size_t offset) {
  std::int64_t line = 1;
  for (std::size_t i = 0; i < offset && i < bytes.size(); ++i) line += bytes[i] == '\n';
  return line;
}

std::string gunzip(const fs::path& path, const std::string& compressed) {
  z_stream z{};
  PERSONAS_ASSERT(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK, "inflateInit2 failed");
  std::string out;
  out.resize(std::max<std::size_t>(compressed.size() * 4, 1 << 16));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z.avail_in = static_cast<uInt>(compressed.size());
  int status = Z_OK;
  while (true) {
    if (z.total_out == out.size()) out.resize(out.size() * 2);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + z.total_out);
    z.avail_out = static_cast<uInt>(out.size() - z.total_out);
    status = inflate(&z, Z_NO_FLUSH);
    if (status == Z_STREAM_END) {
      // Concatenated gzip members (as `cat a.gz b.gz` makes) continue.
      if (z.avail_in > 0) {
        inflateReset(&z);
        continue;
      }
      break;
    }
    if (status != Z_OK && status != Z_BUF_ERROR) break;
    if (status == Z_BUF_ERROR && z.avail_in == 0) break;  // truncated input
  }
  const auto produced = z.total_out;
  const bool ok = status == Z_STREAM_END;
  std::string reason = z.msg ? z.msg : (status == Z_BUF_ERROR ? "unexpected end of file" : "damaged data");
  inflateEnd(&z);
  PERSONAS_CHECK_HINT(ok, data, "the download may be incomplete; fetch the file again",
                      "{}: damaged gzip stream ({}) after {} uncompressed bytes", path.string(), reason, produced);
  out.resize(produced);
  return out;
}

}  // namespace

std::string read_text_source(const fs::path& path) {
  PERSONAS_CHECK_HINT(fs::exists(path), io, "check data.path (and data.source)", "'{}' not found", path.string());
  PERSONAS_CHECK(!fs::is_directory(path), io, "'{}' is a folder, expected a file", path.string());
  std::string bytes = read_file(path);
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f && static_cast<unsigned char>(bytes[1]) == 0x8b)
    bytes = gunzip(path, bytes);
  auto nul = bytes.find('\0');
  PERSONAS_CHECK_HINT(nul == std::string::npos, data, "convert the file to UTF-8 or Latin-1 text",
                      "{}:{}: NUL byte: not a text file (UTF-16 or binary?)", path.string(), line_of(bytes, nul));
  return bytes;
}

std::string ensure_utf8(const fs::path& path, std::string bytes, std::string_view encoding) {
  if (is_valid_utf8(bytes)) return bytes;
  if (encoding == "latin1") return latin1_to_utf8(bytes);
  // Find the first bad line for the message.
  LineReader lines(bytes);
  std::string_view line;
  while (lines.next(line)) {
    if (!is_valid_utf8(line)) break;
  }
  fail(ErrorKind::data, fmt::format("{}:{}: not valid UTF-8", path.string(), lines.line_number()),
       "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)");
}

bool LineReader::next(std::string_view& line) {
  if (pos_ >= text_.size()) return false;
  auto end = text_.find('\n', pos_);
  if (end == std::string_view::npos) end = text_.size();
  line = text_.substr(pos_, end - pos_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  pos_ = end + 1;
  ++line_;
  return true;
}

bool parse_int64(std::string_view text, std::int64_t& value) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_double(std::string_view text, double& value) {
  text = trim(text);
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(value);
}

}  // namespace personas
