#include "core/run_dir.h"

#include <chrono>
#include <ctime>

#include "core/errors.h"

namespace personas {

RunDir::RunDir(fs::path root) : root_(std::move(root)) {
  PERSONAS_CHECK(!root_.empty(), config, "run.dir is empty: give the run directory with --run.dir DIR");
}

fs::path RunDir::ensure_stage_dir(const std::string& stage) const {
  auto dir = stage_dir(stage);
  std::error_code ec;
  fs::create_directories(dir, ec);
  PERSONAS_CHECK(!ec, io, "cannot create '{}': {}", dir.string(), ec.message());
  return dir;
}

fs::path RunDir::rank_file(const std::string& stage, const std::string& name, int rank, const std::string& ext) const {
  return stage_dir(stage) / rank_file_name(name, rank, ext);
}

std::optional<nlohmann::json> RunDir::done_marker(const std::string& stage) const {
  auto path = stage_dir(stage) / "DONE";
  if (!fs::exists(path)) return std::nullopt;
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // a damaged marker means "not done"
  } catch (const Error&) {
    if (!fs::exists(path)) return std::nullopt;  // removed between the check and the read
    throw;
  }
}

bool RunDir::is_done(const std::string& stage, const std::string& config_hash) const {
  auto marker = done_marker(stage);
  return marker && marker->value("config_hash", "") == config_hash;
}

void RunDir::mark_done(const std::string& stage, const std::string& config_hash, nlohmann::json extra) const {
  nlohmann::json marker = extra.is_object() ? extra : nlohmann::json::object();
  marker["stage"] = stage;
  marker["config_hash"] = config_hash;
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  marker["finished_at"] = stamp;
  write_file_atomic(stage_dir(stage) / "DONE", marker.dump(2) + "\n");
}

void RunDir::clear_done(const std::string& stage) const {
  std::error_code ec;
  fs::remove(stage_dir(stage) / "DONE", ec);
}

}  // namespace personas
