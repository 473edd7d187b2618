// Helpers shared by the tests: where the real data lives, temp folders.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

namespace personas::testing {

// ../shared/data (or $PERSONAS_DATA) when it exists.
std::optional<std::filesystem::path> data_root();
// data_root()/relative when it exists, else std::nullopt.
std::optional<std::filesystem::path> data_file(const std::string& relative);
// $PERSONAS_CACHE (default ~/.cache/personas)/relative when it exists: the
// models scripts/fetch-model.sh fetches (e.g. "models/smollm2/smollm2-135m-instruct.h5").
std::optional<std::filesystem::path> cached_model(const std::string& relative);
// A fresh empty folder under the system temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "personas-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};
// The project's source folder and the built personas binary (from CTest's environment).
std::filesystem::path source_dir();
std::filesystem::path personas_binary();

}  // namespace personas::testing

// Skips the current test with a clear message when real data is absent.
#define PERSONAS_REQUIRE_DATA(var, relative)                                                   \
  auto var##_opt = ::personas::testing::data_file(relative);                                   \
  if (!var##_opt) GTEST_SKIP() << "real data '" << relative                                    \
                               << "' not found under ../shared/data or $PERSONAS_DATA; skipping"; \
  const std::filesystem::path var = *var##_opt

// Skips the current test, naming the command that fetches it, when a cached model file is absent.
#define PERSONAS_REQUIRE_MODEL(var, relative, model)                                                     \
  auto var##_opt = ::personas::testing::cached_model(relative);                                          \
  if (!var##_opt) GTEST_SKIP() << "'" << relative << "' not found under $PERSONAS_CACHE (~/.cache/personas); " \
                               << "run scripts/fetch-model.sh " << model << " to fetch it; skipping";       \
  const std::filesystem::path var = *var##_opt
