#include "train/stage_inputs.h"

#include <algorithm>

#include "core/errors.h"
#include "core/log.h"
#include "io/hdf5_file.h"
#include "io/jsonl.h"

namespace personas {

PersonaTable read_persona_table(const RunDir& run) {
  PersonaTable table;
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
  table.present = !files.empty();
  auto& rows = table.by_id;
  for (const auto& f : files)
    read_jsonl(f, [&](const nlohmann::json& o, std::size_t line) {
      const char* user_key = o.contains("user") ? "user" : "user_id";
      const char* persona_key = o.contains("persona") ? "persona" : o.contains("cluster") ? "cluster" : "label";
      PERSONAS_CHECK(o.contains(user_key) && o.contains(persona_key), data,
                     "{}:{}: needs fields \"user\" and \"persona\"", f.string(), line);
      PERSONAS_CHECK(o[user_key].is_number_integer() && o[persona_key].is_number_integer(), data,
                     "{}:{}: \"{}\" and \"{}\" must be integers", f.string(), line, user_key, persona_key);
      rows.emplace_back(o[user_key].get<std::int64_t>(), o[persona_key].get<std::int32_t>());
    });
  // One entry per id, the last one read winning (as a map filled in file order would).
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::size_t kept = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i + 1 < rows.size() && rows[i + 1].first == rows[i].first) continue;
    rows[kept++] = rows[i];
  }
  rows.resize(kept);
  rows.shrink_to_fit();
  return table;
}

std::int32_t PersonaTable::find(std::int64_t user_id) const {
  auto it = std::lower_bound(by_id.begin(), by_id.end(), user_id,
                             [](const auto& row, std::int64_t id) { return row.first < id; });
  return it != by_id.end() && it->first == user_id ? it->second : -1;
}

UserPersonas user_personas(const PersonaTable& table, const Dataset& data) {
  UserPersonas out;
  out.persona_of_user.assign(data.users.size(), -1);
  if (!table.empty()) {
    for (std::size_t u = 0; u < data.users.size(); ++u) {
      out.persona_of_user[u] = table.find(data.users[u].id);
      out.n_missing += out.persona_of_user[u] < 0 ? 1 : 0;
    }
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

UserPersonas read_user_personas(const RunDir& run, const Dataset& data) {
  return user_personas(read_persona_table(run), data);
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
