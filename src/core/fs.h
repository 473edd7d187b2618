// File helpers: whole-file reads with clear errors, and atomic writes (a temp
// name in the same folder, fsync, rename) so a crash never leaves a
// half-written output under the final name.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace personas {

namespace fs = std::filesystem;

// Reads a whole file; ErrorKind::io naming the path when it cannot.
std::string read_file(const fs::path& path);

// Writes `bytes` to `path` atomically; creates parent folders.
void write_file_atomic(const fs::path& path, std::string_view bytes);

// Calls `write(temp_path)` to produce the file, then renames it to `path`.
// The temp file is removed if `write` throws. Use for HDF5 and other writers
// that need a path rather than bytes.
void write_atomically(const fs::path& path, const std::function<void(const fs::path&)>& write);

// The cache of fetched models (scripts/fetch-model.sh): $PERSONAS_CACHE, else
// $HOME/.cache/personas.
fs::path personas_cache_dir();
// A configured path with "${PERSONAS_CACHE}" replaced by personas_cache_dir()
// and a leading "~/" by $HOME/, so configs can name fetched models portably.
fs::path expand_user_path(const std::string& path);

// "name-rank-00003.ext": the per-rank file naming of DESIGN.md.
std::string rank_file_name(std::string_view name, int rank, std::string_view ext);

}  // namespace personas
