#include "distill/memory_records.h"

#include "core/errors.h"

namespace personas {

nlohmann::json record_to_json(const MemoryRecord& r, const std::vector<Item>* items) {
  nlohmann::json j;
  j["index"] = r.index;
  j["user_id"] = r.memory.user_id;
  if (r.failed) {
    j["failed"] = true;
    j["reason"] = r.reason;
  } else {
    j["activity"] = r.memory.activity;
    j["conformity"] = r.memory.conformity;
    j["diversity"] = r.memory.diversity;
    j["profile"] = r.memory.profile;
    auto notes = nlohmann::json::array();
    for (const auto& n : r.memory.notes) {
      nlohmann::json note = {{"item", n.item}, {"rating", n.rating}, {"text", n.text}};
      if (items && n.item >= 0 && static_cast<std::size_t>(n.item) < items->size())
        note["item_id"] = (*items)[static_cast<std::size_t>(n.item)].id;
      notes.push_back(std::move(note));
    }
    j["notes"] = std::move(notes);
  }
  j["provider"] = r.memory.provider;
  j["model"] = r.memory.model;
  j["prompt_version"] = r.memory.prompt_version;
  return j;
}

MemoryRecord record_from_json(const nlohmann::json& j, const std::string& where) {
  MemoryRecord r;
  try {
    r.index = j.at("index").get<std::int64_t>();
    r.memory.user_id = j.at("user_id").get<std::int64_t>();
    r.failed = j.value("failed", false);
    r.memory.provider = j.value("provider", "");
    r.memory.model = j.value("model", "");
    r.memory.prompt_version = j.value("prompt_version", "");
    if (r.failed) {
      r.reason = j.value("reason", "");
      return r;
    }
    r.memory.activity = j.at("activity").get<std::string>();
    r.memory.conformity = j.at("conformity").get<std::string>();
    r.memory.diversity = j.at("diversity").get<std::string>();
    r.memory.profile = j.at("profile").get<std::string>();
    for (const auto& n : j.at("notes"))
      r.memory.notes.push_back({n.at("item").get<std::int32_t>(), n.at("rating").get<float>(), n.at("text").get<std::string>()});
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::data, fmt::format("{}: not a distill record: {}", where, e.what()));
  }
  return r;
}

}  // namespace personas
