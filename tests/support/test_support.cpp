#include "support/test_support.h"

#include "core/fs.h"

#include <unistd.h>

#include <cstdlib>
#include <random>

namespace personas::testing {

std::optional<std::filesystem::path> data_root() {
  for (const char* var : {"PERSONAS_DATA", "PERSONAS_DEFAULT_DATA"}) {
    if (const char* v = std::getenv(var); v && std::filesystem::is_directory(v)) return std::filesystem::path(v);
  }
  auto guess = source_dir() / ".." / "shared" / "data";
  if (std::filesystem::is_directory(guess)) return std::filesystem::canonical(guess);
  return std::nullopt;
}

std::optional<std::filesystem::path> data_file(const std::string& relative) {
  auto root = data_root();
  if (!root) return std::nullopt;
  auto path = *root / relative;
  if (!std::filesystem::exists(path)) return std::nullopt;
  return path;
}

std::optional<std::filesystem::path> cached_model(const std::string& relative) {
  auto path = personas_cache_dir() / relative;  // where scripts/fetch-model.sh puts it
  if (!std::filesystem::exists(path)) return std::nullopt;
  return path;
}

TempDir::TempDir(const std::string& prefix) {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          (prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path source_dir() {
  if (const char* v = std::getenv("PERSONAS_SOURCE_DIR")) return v;
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

std::filesystem::path personas_binary() {
  if (const char* v = std::getenv("PERSONAS_BINARY")) return v;
  return source_dir() / "build" / "personas";
}

}  // namespace personas::testing
