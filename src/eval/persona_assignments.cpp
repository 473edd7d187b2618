#include "eval/persona_assignments.h"

#include <algorithm>
#include <unordered_map>

#include "core/errors.h"
#include "core/log.h"
#include "io/jsonl.h"

namespace personas {

namespace {

std::vector<fs::path> assignment_files(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind("assignments", 0) == 0 && entry.path().extension() == ".jsonl")
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

const nlohmann::json* first_of(const nlohmann::json& j, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (j.contains(k) && j[k].is_number_integer()) return &j[k];
  return nullptr;
}

}  // namespace

PersonaAssignment read_persona_assignments(const RunDir& run, const Dataset& data) {
  PersonaAssignment a;
  a.persona_of_user.assign(data.users.size(), -1);
  const auto files = assignment_files(run.stage_dir("cluster"));
  if (!files.empty()) {
    std::unordered_map<std::int64_t, std::int32_t> by_id;
    for (const auto& file : files)
      read_jsonl(file, [&](const nlohmann::json& j, std::size_t line) {
        const auto* user = first_of(j, {"user", "user_id"});
        const auto* persona = first_of(j, {"persona", "cluster", "label"});
        PERSONAS_CHECK(user && persona, data, "{}:{}: expected integer fields \"user\" and \"persona\"",
                       file.string(), line);
        by_id[user->get<std::int64_t>()] = persona->get<std::int32_t>();
      });
    for (std::size_t k = 0; k < data.users.size(); ++k) {
      const auto it = by_id.find(data.users[k].id);
      if (it == by_id.end())
        ++a.n_missing;
      else
        a.persona_of_user[k] = it->second;
    }
    a.source = "cluster";
    return a;
  }
  bool planted = false;
  for (std::size_t k = 0; k < data.users.size(); ++k) {
    a.persona_of_user[k] = data.users[k].true_persona;
    planted = planted || data.users[k].true_persona >= 0;
  }
  a.source = planted ? "planted" : "none";
  return a;
}

}  // namespace personas
