#include "io/line_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "core/errors.h"
#include "core/log.h"

namespace personas {

namespace {

// Level 1: the distill records are templated text that compresses ~10x even
// at the fastest level; higher levels cost several times the CPU for a few %.
constexpr int kZstdLevel = 1;
constexpr std::size_t kBlock = 1 << 20;  // bytes per read / write / compress call

void check_zstd(std::size_t code, const fs::path& path, const char* what) {
  PERSONAS_CHECK(!ZSTD_isError(code), io, "'{}': zstd {} failed: {}", path.string(), what, ZSTD_getErrorName(code));
}

int open_for_reading(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  PERSONAS_CHECK_HINT(fd >= 0, io, "check the path and its permissions", "cannot open '{}' for reading: {}",
                      path.string(), std::strerror(errno));
  return fd;
}

// Reads up to `size` bytes at the current position; 0 at the end.
std::size_t read_some(int fd, char* data, std::size_t size, const fs::path& path) {
  for (;;) {
    ssize_t n = ::read(fd, data, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    PERSONAS_CHECK(errno == EINTR, io, "error while reading '{}': {}", path.string(), std::strerror(errno));
  }
}

void read_exactly(int fd, std::uint64_t offset, char* data, std::size_t size, const fs::path& path) {
  while (size > 0) {
    ssize_t n = ::pread(fd, data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    PERSONAS_CHECK(n > 0, io, "'{}' is shorter than expected or unreadable at offset {} (changed while read?)",
                   path.string(), offset);
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
}

// Splits a byte stream into lines, giving each line's offset in the stream.
class LineSplitter {
 public:
  template <class Emit>
  void feed(const char* data, std::size_t size, Emit&& emit) {
    std::size_t begin = 0;
    while (begin < size) {
      const void* nl = std::memchr(data + begin, '\n', size - begin);
      if (!nl) {
        carry_.append(data + begin, size - begin);
        break;
      }
      const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - data);
      const std::uint64_t line_start = fed_ + begin - carry_.size();
      if (carry_.empty()) {
        emit(std::string_view(data + begin, end - begin), line_start);
      } else {
        carry_.append(data + begin, end - begin);
        emit(std::string_view(carry_), line_start);
        carry_.clear();
      }
      begin = end + 1;
    }
    fed_ += size;
  }
  // Bytes fed but not yet ended by a newline, and where they start.
  const std::string& carry() const { return carry_; }
  std::uint64_t carry_start() const { return fed_ - carry_.size(); }
  void reset() {
    carry_.clear();
    fed_ = 0;
  }

 private:
  std::string carry_;
  std::uint64_t fed_ = 0;  // bytes fed so far
};

}  // namespace

LineCompression compression_of(const fs::path& path) {
  return path.extension() == ".zst" ? LineCompression::zstd : LineCompression::none;
}

// ---- writing ------------------------------------------------------------------

struct LineWriter::Zstd {
  ZSTD_CCtx* cctx = nullptr;
  std::string input;  // the open frame's text not yet given to the compressor
  ~Zstd() { ZSTD_freeCCtx(cctx); }
};

LineWriter::LineWriter(const fs::path& path, LineCompression compression) : path_(path), compression_(compression) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  PERSONAS_CHECK(fd_ >= 0, io, "cannot open '{}' for writing: {}", path.string(), std::strerror(errno));
  if (compression_ == LineCompression::zstd) {
    zstd_ = std::make_unique<Zstd>();
    zstd_->cctx = ZSTD_createCCtx();
    PERSONAS_CHECK(zstd_->cctx, io, "'{}': cannot create a zstd context (out of memory?)", path.string());
    check_zstd(ZSTD_CCtx_setParameter(zstd_->cctx, ZSTD_c_compressionLevel, kZstdLevel), path_, "setup");
    check_zstd(ZSTD_CCtx_setParameter(zstd_->cctx, ZSTD_c_checksumFlag, 1), path_, "setup");
  }
}

LineWriter::~LineWriter() {
  if (fd_ >= 0) ::close(fd_);  // not synced: close() was not reached (an error is on its way)
}

void LineWriter::write_out(const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd_, data, size);
    if (n < 0 && errno == EINTR) continue;
    PERSONAS_CHECK(n > 0, io, "error while writing '{}' (disk full?): {}", path_.string(), std::strerror(errno));
    data += n;
    size -= static_cast<std::size_t>(n);
    file_bytes_ += static_cast<std::uint64_t>(n);
  }
}

namespace {

// Compresses `input` into `out` (appending) with the given end directive.
void compress_into(ZSTD_CCtx* cctx, const std::string& input, ZSTD_EndDirective mode, std::string& out,
                   const fs::path& path) {
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  for (;;) {
    const std::size_t old = out.size();
    out.resize(old + ZSTD_CStreamOutSize());
    ZSTD_outBuffer o{out.data() + old, out.size() - old, 0};
    const std::size_t left = ZSTD_compressStream2(cctx, &o, &in, mode);
    check_zstd(left, path, "compression");
    out.resize(old + o.pos);
    if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return;
  }
}

}  // namespace

LinePlace LineWriter::append(std::string_view line) {
  PERSONAS_ASSERT(fd_ >= 0, "LineWriter::append on closed '{}'", path_.string());
  LinePlace place;
  place.offset = frame_bytes_;
  place.length = static_cast<std::uint32_t>(line.size());
  if (compression_ == LineCompression::none) {
    buffer_.append(line);
    buffer_ += '\n';
    if (buffer_.size() >= kBlock) {
      write_out(buffer_.data(), buffer_.size());
      buffer_.clear();
    }
  } else {
    if (!frame_open_) {
      bounds_.push_back(file_bytes_ + buffer_.size());
      frame_open_ = true;
    }
    place.frame = static_cast<std::uint32_t>(bounds_.size() - 1);
    zstd_->input.append(line);
    zstd_->input += '\n';
    if (zstd_->input.size() >= kBlock) {
      compress_into(zstd_->cctx, zstd_->input, ZSTD_e_continue, buffer_, path_);
      zstd_->input.clear();
      if (buffer_.size() >= kBlock) {
        write_out(buffer_.data(), buffer_.size());
        buffer_.clear();
      }
    }
  }
  frame_bytes_ += line.size() + 1;
  return place;
}

void LineWriter::end_chunk(bool sync) {
  PERSONAS_ASSERT(fd_ >= 0, "LineWriter::end_chunk on closed '{}'", path_.string());
  if (compression_ == LineCompression::zstd && frame_open_) {
    compress_into(zstd_->cctx, zstd_->input, ZSTD_e_end, buffer_, path_);
    zstd_->input.clear();
    frame_open_ = false;
    frame_bytes_ = 0;
  }
  write_out(buffer_.data(), buffer_.size());
  buffer_.clear();
  if (sync) PERSONAS_CHECK(::fdatasync(fd_) == 0, io, "cannot sync '{}': {}", path_.string(), std::strerror(errno));
}

void LineWriter::close() {
  if (fd_ < 0) return;
  end_chunk();
  if (compression_ == LineCompression::zstd) bounds_.push_back(file_bytes_);
  const int fd = fd_;
  fd_ = -1;
  PERSONAS_CHECK(::close(fd) == 0, io, "cannot close '{}': {}", path_.string(), std::strerror(errno));
}

// ---- scanning -----------------------------------------------------------------

namespace {

void warn_truncated(const fs::path& path, const char* what) {
  plog::warn("'{}' ends with {} (an interrupted writer?); it is ignored", path.string(), what);
}

}  // namespace

LineScan scan_lines(const fs::path& path, bool tolerate_truncated_tail,
                    const std::function<void(std::string_view, const LinePlace&, std::size_t)>& visit,
                    const std::function<void()>& commit) {
  LineScan scan;
  const int fd = open_for_reading(path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::vector<char> block(kBlock);
  LineSplitter lines;
  std::size_t line_no = 0;
  std::uint32_t frame = LinePlace::kNoFrame;
  auto emit = [&](std::string_view line, std::uint64_t start) {
    visit(line, LinePlace{frame, start, static_cast<std::uint32_t>(line.size())}, ++line_no);
  };

  if (compression_of(path) == LineCompression::none) {
    for (std::size_t n; (n = read_some(fd, block.data(), block.size(), path)) > 0;) {
      lines.feed(block.data(), n, [&](std::string_view line, std::uint64_t start) {
        emit(line, start);
        if (commit) commit();
      });
    }
    if (!lines.carry().empty()) {
      if (tolerate_truncated_tail) {
        warn_truncated(path, fmt::format("an incomplete line (line {}, no newline)", line_no + 1).c_str());
        scan.truncated_tail = true;
      } else {
        emit(lines.carry(), lines.carry_start());
        if (commit) commit();
      }
    }
    return scan;
  }

  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  PERSONAS_CHECK(dctx, io, "'{}': cannot create a zstd context (out of memory?)", path.string());
  struct Freer {
    ZSTD_DCtx* d;
    ~Freer() { ZSTD_freeDCtx(d); }
  } freer{dctx};
  std::vector<char> text(ZSTD_DStreamOutSize());
  std::uint64_t file_pos = 0;     // bytes of the file given to the decompressor
  std::uint64_t frame_start = 0;  // where the open frame began
  bool in_frame = false;
  for (;;) {
    const std::size_t n = read_some(fd, block.data(), block.size(), path);
    ZSTD_inBuffer in{block.data(), n, 0};
    bool output_full = false;
    while (in.pos < in.size || output_full) {
      if (!in_frame) {
        in_frame = true;
        frame_start = file_pos + in.pos;
        frame = static_cast<std::uint32_t>(scan.frame_bounds.size());
        lines.reset();
      }
      ZSTD_outBuffer out{text.data(), text.size(), 0};
      const std::size_t ret = ZSTD_decompressStream(dctx, &out, &in);
      PERSONAS_CHECK(!ZSTD_isError(ret), data, "'{}': corrupt zstd data in the frame at byte {}: {}", path.string(),
                     frame_start, ZSTD_getErrorName(ret));
      lines.feed(text.data(), out.pos, emit);
      output_full = out.pos == out.size;
      if (ret == 0) {  // the frame is complete and flushed
        PERSONAS_CHECK(lines.carry().empty(), data, "'{}': the zstd frame at byte {} ends inside a line", path.string(),
                       frame_start);
        scan.frame_bounds.push_back(frame_start);
        in_frame = false;
        output_full = false;
        if (commit) commit();
      }
    }
    file_pos += n;
    if (n == 0) break;
  }
  if (in_frame) {
    PERSONAS_CHECK(tolerate_truncated_tail, data, "'{}': the last zstd frame (at byte {}) is cut short", path.string(),
                   frame_start);
    warn_truncated(path, fmt::format("an incomplete zstd frame (at byte {})", frame_start).c_str());
    scan.truncated_tail = true;
    scan.frame_bounds.push_back(frame_start);  // the end of the complete frames
  } else {
    scan.frame_bounds.push_back(file_pos);
  }
  return scan;
}

// ---- fetching -----------------------------------------------------------------

LineFetcher::LineFetcher(const fs::path& path, std::vector<std::uint64_t> frame_bounds)
    : path_(path), bounds_(std::move(frame_bounds)), fd_(open_for_reading(path)) {}

LineFetcher::~LineFetcher() { ::close(fd_); }

std::string_view LineFetcher::fetch(const LinePlace& place) {
  if (place.frame == LinePlace::kNoFrame) {
    text_.resize(place.length + 1);
    read_exactly(fd_, place.offset, text_.data(), text_.size(), path_);
  } else {
    PERSONAS_CHECK(place.frame + 1 < bounds_.size(), io, "'{}': no zstd frame {}", path_.string(), place.frame);
    if (place.frame != frame_) {
      const std::uint64_t begin = bounds_[place.frame], end = bounds_[place.frame + 1];
      std::string packed(end - begin, '\0');
      read_exactly(fd_, begin, packed.data(), packed.size(), path_);
      ZSTD_DCtx* dctx = ZSTD_createDCtx();
      PERSONAS_CHECK(dctx, io, "'{}': cannot create a zstd context (out of memory?)", path_.string());
      ZSTD_inBuffer in{packed.data(), packed.size(), 0};
      text_.clear();
      frame_ = LinePlace::kNoFrame;
      std::size_t ret = 1;
      while (ret != 0) {
        const std::size_t old = text_.size();
        text_.resize(old + ZSTD_DStreamOutSize());
        ZSTD_outBuffer out{text_.data() + old, text_.size() - old, 0};
        ret = ZSTD_decompressStream(dctx, &out, &in);
        text_.resize(old + out.pos);
        if (ZSTD_isError(ret) || (ret != 0 && in.pos == in.size && out.pos < out.size)) {
          ZSTD_freeDCtx(dctx);
          fail(ErrorKind::data, fmt::format("'{}': cannot decompress the zstd frame at byte {}{}", path_.string(), begin,
                                            ZSTD_isError(ret) ? std::string(": ") + ZSTD_getErrorName(ret) : ""));
        }
      }
      ZSTD_freeDCtx(dctx);
      frame_ = place.frame;
    }
    PERSONAS_CHECK(place.offset + place.length < text_.size(), io, "'{}': frame {} is shorter than expected",
                   path_.string(), place.frame);
    std::string_view line(text_.data() + place.offset, place.length + 1);
    PERSONAS_CHECK(line.back() == '\n', io, "'{}' changed while read (frame {}, offset {})", path_.string(), place.frame,
                   place.offset);
    return line.substr(0, place.length);
  }
  PERSONAS_CHECK(text_.back() == '\n', io, "'{}' changed while read (offset {})", path_.string(), place.offset);
  return std::string_view(text_.data(), place.length);
}

}  // namespace personas
