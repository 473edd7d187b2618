#include "core/fs.h"

#include <cstdlib>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "core/errors.h"

namespace personas {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  PERSONAS_CHECK_HINT(in.good(), io, "check the path and its permissions", "cannot open '{}' for reading: {}",
                      path.string(), std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  PERSONAS_CHECK(!in.bad(), io, "error while reading '{}'", path.string());
  return bytes;
}

namespace {

fs::path temp_sibling(const fs::path& path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return path.parent_path() / fmt::format(".{}.tmp-{}-{:x}", path.filename().string(), getpid(), rng());
}

void fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void write_atomically(const fs::path& path, const std::function<void(const fs::path&)>& write) {
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    PERSONAS_CHECK(!ec, io, "cannot create folder '{}': {}", path.parent_path().string(), ec.message());
  }
  auto temp = temp_sibling(path);
  try {
    write(temp);
    fsync_path(temp);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    fs::remove(temp, ec);
    fail(ErrorKind::io, fmt::format("cannot rename into '{}': {}", path.string(), ec.message()));
  }
  if (path.has_parent_path()) fsync_path(path.parent_path());
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  write_atomically(path, [&](const fs::path& temp) {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    PERSONAS_CHECK(out.good(), io, "cannot open '{}' for writing: {}", temp.string(), std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    PERSONAS_CHECK(out.good(), io, "error while writing '{}' (disk full?)", temp.string());
  });
}

std::string rank_file_name(std::string_view name, int rank, std::string_view ext) {
  return fmt::format("{}-rank-{:05d}.{}", name, rank, ext);
}

fs::path personas_cache_dir() {
  if (const char* env = std::getenv("PERSONAS_CACHE"); env && *env) return fs::path(env);
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/tmp") / ".cache" / "personas";
}

fs::path expand_user_path(const std::string& path) {
  std::string out = path;
  constexpr std::string_view kCache = "${PERSONAS_CACHE}";
  for (auto at = out.find(kCache); at != std::string::npos; at = out.find(kCache))
    out.replace(at, kCache.size(), personas_cache_dir().string());
  if (out.rfind("~/", 0) == 0)
    if (const char* home = std::getenv("HOME"); home && *home) out = std::string(home) + out.substr(1);
  return fs::path(out);
}

}  // namespace personas
