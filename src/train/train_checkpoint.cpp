#include "train/train_checkpoint.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/strings.h"
#include "core/errors.h"
#include "core/log.h"
#include "io/hdf5_file.h"

namespace personas {

namespace {

constexpr const char* kDone = "DONE";

// (step, folder) of every step-* folder, complete or not, sorted by step.
std::vector<std::pair<std::int64_t, fs::path>> step_folders(const fs::path& adapter_dir) {
  std::vector<std::pair<std::int64_t, fs::path>> out;
  std::error_code ec;
  if (!fs::is_directory(adapter_dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(adapter_dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("step-", 0) != 0) continue;
    if (const auto step = parse_int64(std::string_view(name).substr(5)))  // else not one of ours
      out.emplace_back(*step, entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

fs::path checkpoint_folder(const fs::path& adapter_dir, std::int64_t step) {
  return adapter_dir / fmt::format("step-{:08d}", step);
}

void save_checkpoint(const fs::path& adapter_dir, const TrainState& state, const RankPosition& position,
                     Comm& group, int keep) {
  const fs::path folder = checkpoint_folder(adapter_dir, state.step);
  if (group.rank() == 0) {
    fs::create_directories(folder);
    fs::remove(folder / kDone);  // a re-save of the same step is not complete until the barrier
    write_atomically(folder / "state.h5", [&](const fs::path& tmp) {
      h5::File f(tmp, h5::File::Mode::create);
      f.write<float>("/params", state.params);
      f.write<float>("/adam_m", state.adam_m);
      f.write<float>("/adam_v", state.adam_v);
      f.set_attr("/", "step", state.step);
      f.set_attr("/", "seed", static_cast<std::int64_t>(state.seed));
      f.set_attr("/", "n_params", static_cast<std::int64_t>(state.params.size()));
      f.set_attr("/", "last_val_loss", state.last_val_loss);
      if (!state.best_params.empty()) {
        f.write<float>("/best_params", state.best_params);
        f.set_attr("/", "best_step", state.best_step);
        f.set_attr("/", "best_val_loss", state.best_val_loss);
      }
      f.set_attr("/", "format", std::string("personas-train-state"));
    });
  }
  group.barrier();  // the folder exists before other ranks write into it
  nlohmann::json pos = {{"step", position.step},           {"epoch", position.epoch},
                        {"batch_in_epoch", position.batch_in_epoch}, {"seed", position.seed},
                        {"group_rank", position.group_rank}, {"group_size", position.group_size}};
  if (!position.best_sample_losses.empty()) pos["best_sample_losses"] = position.best_sample_losses;
  write_file_atomic(folder / rank_file_name("position", group.rank(), "json"), pos.dump(2) + "\n");
  group.barrier();
  if (group.rank() == 0) {
    write_file_atomic(folder / kDone, nlohmann::json{{"step", state.step}, {"group_size", group.size()}}.dump() + "\n");
    prune_checkpoints(adapter_dir, keep);
  }
  group.barrier();
}

std::optional<std::int64_t> latest_complete_checkpoint(const fs::path& adapter_dir) {
  auto folders = step_folders(adapter_dir);
  for (auto it = folders.rbegin(); it != folders.rend(); ++it)
    if (fs::exists(it->second / kDone) && fs::exists(it->second / "state.h5")) return it->first;
  return std::nullopt;
}

std::optional<std::vector<double>> load_rank_best_losses(const fs::path& adapter_dir, std::int64_t step,
                                                         int group_rank, int group_size) {
  const fs::path path = checkpoint_folder(adapter_dir, step) / rank_file_name("position", group_rank, "json");
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const auto pos = nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  PERSONAS_CHECK(pos.is_object(), data, "{}: not a JSON object", path.string());
  const auto losses = pos.find("best_sample_losses");
  if (pos.value("group_size", -1) != group_size || pos.value("group_rank", -1) != group_rank || losses == pos.end())
    return std::nullopt;
  PERSONAS_CHECK(losses->is_array() && std::all_of(losses->begin(), losses->end(), [](const auto& v) { return v.is_number(); }),
                 data, "{}: best_sample_losses must be an array of numbers", path.string());
  return losses->get<std::vector<double>>();
}

TrainState load_checkpoint_state(const fs::path& adapter_dir, std::int64_t step, std::int64_t n_params) {
  const fs::path path = checkpoint_folder(adapter_dir, step) / "state.h5";
  h5::File f(path, h5::File::Mode::read);
  TrainState s;
  s.step = f.attr_int("/", "step");
  s.seed = static_cast<std::uint64_t>(f.attr_int("/", "seed"));
  s.last_val_loss = f.attr_double("/", "last_val_loss");
  s.params = f.read<float>("/params");
  s.adam_m = f.read<float>("/adam_m");
  s.adam_v = f.read<float>("/adam_v");
  if (f.exists("/best_params")) {
    s.best_params = f.read<float>("/best_params");
    s.best_step = f.attr_int("/", "best_step");
    s.best_val_loss = f.attr_double("/", "best_val_loss");
    PERSONAS_CHECK(s.best_params.size() == s.params.size(), data, "{}: best_params holds {} values, params {}",
                   path.string(), s.best_params.size(), s.params.size());
  }
  PERSONAS_CHECK_HINT(static_cast<std::int64_t>(s.params.size()) == n_params &&
                          s.adam_m.size() == s.params.size() && s.adam_v.size() == s.params.size(),
                      data, "the [lora] settings or the base model changed since the checkpoint was written",
                      "{}: holds {} adapter parameters, the model expects {}", path.string(), s.params.size(),
                      n_params);
  PERSONAS_CHECK(s.step == step, data, "{}: step attribute {} does not match its folder (step {})", path.string(),
                 s.step, step);
  return s;
}

void prune_checkpoints(const fs::path& adapter_dir, int keep) {
  auto folders = step_folders(adapter_dir);
  std::vector<std::pair<std::int64_t, fs::path>> complete;
  for (const auto& f : folders)
    if (fs::exists(f.second / kDone)) complete.push_back(f);
  if (complete.empty()) return;
  const std::int64_t latest = complete.back().first;
  const std::size_t n_remove = complete.size() > static_cast<std::size_t>(keep) ? complete.size() - keep : 0;
  std::error_code ec;
  for (std::size_t i = 0; i < n_remove; ++i) fs::remove_all(complete[i].second, ec);
  for (const auto& f : folders)
    if (f.first < latest && !fs::exists(f.second / kDone)) fs::remove_all(f.second, ec);
}

}  // namespace personas
