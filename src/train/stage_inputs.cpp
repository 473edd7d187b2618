#include "train/stage_inputs.h"

#include <unordered_map>

#include "core/errors.h"
#include "core/log.h"
#include "io/hdf5_file.h"
#include "io/jsonl.h"

namespace personas {

UserPersonas read_user_personas(const RunDir& run, const Dataset& data) {
  UserPersonas out;
  out.persona_of_user.assign(data.users.size(), -1);
  std::vector<fs::path> files;
  const fs::path dir = run.stage_dir("cluster");
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    for (const auto& e : fs::directory_iterator(dir)) {
      const auto name = e.path().filename().string();
      if (name == "assignments.jsonl" || (name.rfind("assignments-rank-", 0) == 0 && e.path().extension() == ".jsonl"))
        files.push_back(e.path());
    }
  }
  if (!files.empty()) {
    std::unordered_map<std::int64_t, std::int32_t> persona;
    for (const auto& f : files)
      read_jsonl(f, [&](const nlohmann::json& o, std::size_t line) {
        const char* user_key = o.contains("user") ? "user" : "user_id";
        const char* persona_key = o.contains("persona") ? "persona" : o.contains("cluster") ? "cluster" : "label";
        PERSONAS_CHECK(o.contains(user_key) && o.contains(persona_key), data,
                       "{}:{}: needs fields \"user\" and \"persona\"", f.string(), line);
        persona[o[user_key].get<std::int64_t>()] = o[persona_key].get<std::int32_t>();
      });
    for (std::size_t u = 0; u < data.users.size(); ++u)
      if (auto it = persona.find(data.users[u].id); it != persona.end()) out.persona_of_user[u] = it->second;
    out.source = "cluster";
    return out;
  }
  bool planted = !data.users.empty();
  for (const auto& u : data.users) planted = planted && u.true_persona >= 0;
  if (planted) {
    for (std::size_t u = 0; u < data.users.size(); ++u) out.persona_of_user[u] = data.users[u].true_persona;
    out.source = "planted";
    return out;
  }
  out.source = "none";
  return out;
}

ItemVectors read_item_vectors(const RunDir& run, const Dataset& data) {
  const fs::path path = run.stage_dir("embed") / "items.h5";
  std::error_code ec;
  if (fs::exists(path, ec)) {
    h5::File f(path, h5::File::Mode::read);
    for (const char* name : {"/items", "/vectors", "/embeddings"}) {
      if (!f.exists(name)) continue;
      const auto shape = f.shape(name);
      PERSONAS_CHECK(shape.size() == 2 && shape[0] == data.items.size(), data,
                     "{}: {} has shape [{}], expected [{} items, dim]", path.string(), name,
                     shape.empty() ? 0 : shape[0], data.items.size());
      ItemVectors v;
      v.n_items = static_cast<std::int64_t>(shape[0]);
      v.dim = static_cast<std::int64_t>(shape[1]);
      v.data = f.read<float>(name);
      v.source = "embed";
      v.normalize_rows();
      return v;
    }
    plog::warn("train: {} holds no items/vectors/embeddings dataset; retrieval uses genre/era features", path.string());
  }
  return item_vectors_from_features(data);
}

}  // namespace personas
