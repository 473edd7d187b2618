// Text files of lines (JSON Lines), plain or zstd-compressed, written and read
// in chunks. A ".zst" file is a sequence of independent zstd frames, one per
// chunk, each ending with a newline: a frame is the unit of durability (an
// interrupted writer leaves at most one incomplete frame at the end, which a
// tolerant reader detects and drops) and of random access (a line is found by
// its frame and its offset inside the frame's text).
//
// A line's place: plain files: frame = kNoFrame, offset = byte offset in the
// file; .zst files: frame = the frame's number, offset = byte offset in the
// frame's decompressed text. Lengths exclude the newline.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"

namespace personas {

enum class LineCompression { none, zstd };

// ".zst" ends the name of a compressed file.
LineCompression compression_of(const fs::path& path);

struct LinePlace {
  static constexpr std::uint32_t kNoFrame = std::numeric_limits<std::uint32_t>::max();
  std::uint32_t frame = kNoFrame;
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
};

// Appends lines to a new (truncated) file. end_chunk() ends a chunk (zstd:
// closes the frame) and, with `sync`, makes everything appended so far
// durable (write + fdatasync).
class LineWriter {
 public:
  LineWriter(const fs::path& path, LineCompression compression);
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // `line` must not contain a newline; one is added.
  LinePlace append(std::string_view line);
  void end_chunk(bool sync = true);
  // end_chunk() and close the file.
  void close();
  const fs::path& path() const { return path_; }
  // After close(): the start offsets of the frames written (zstd), then the file's end.
  const std::vector<std::uint64_t>& frame_bounds() const { return bounds_; }

 private:
  void write_out(const char* data, std::size_t size);
  fs::path path_;
  LineCompression compression_;
  int fd_ = -1;
  struct Zstd;
  std::unique_ptr<Zstd> zstd_;
  std::string buffer_;          // bytes not yet written to the file
  std::uint64_t file_bytes_ = 0;
  std::uint64_t frame_bytes_ = 0;  // decompressed bytes in the open frame (zstd) or the file (plain)
  bool frame_open_ = false;
  std::vector<std::uint64_t> bounds_;
};

struct LineScan {
  std::vector<std::uint64_t> frame_bounds;  // zstd: start of each complete frame, then its end
  bool truncated_tail = false;               // an incomplete last line (plain) or frame (zstd) was dropped
};

// Calls visit(line, place, line_no) for every line; commit() whenever every
// line visited so far is known to be complete (plain: after each line; zstd:
// at each frame's end). With `tolerate_truncated_tail`, an incomplete end
// (a last line without newline; a last frame cut short) is dropped (lines
// visited since the last commit are to be discarded by the caller), a
// warning names the file, and scan returns truncated_tail; otherwise a cut
// frame is an error and a last line without newline is a line.
LineScan scan_lines(const fs::path& path, bool tolerate_truncated_tail,
                    const std::function<void(std::string_view, const LinePlace&, std::size_t)>& visit,
                    const std::function<void()>& commit = {});

// Reads lines back by place, with the frame bounds of its scan (zstd); keeps
// the last decompressed frame (places of one frame usually come together).
class LineFetcher {
 public:
  LineFetcher(const fs::path& path, std::vector<std::uint64_t> frame_bounds);
  ~LineFetcher();
  std::string_view fetch(const LinePlace& place);

 private:
  fs::path path_;
  std::vector<std::uint64_t> bounds_;
  int fd_ = -1;
  std::uint32_t frame_ = LinePlace::kNoFrame;
  std::string text_;
};

}  // namespace personas
