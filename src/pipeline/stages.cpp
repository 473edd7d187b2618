#include "pipeline/stages.h"

#include "core/errors.h"
#include "core/strings.h"

namespace personas {

const std::vector<StageInfo>& pipeline_stages() {
  // run.seed feeds every stage that draws random numbers.
  static const std::vector<StageInfo> stages = {
      {"prepare", {"data"}, false},
      {"distill", {"distill"}, false},
      {"model", {"model"}, false},
      {"embed", {"embed"}, false},
      {"cluster", {"cluster"}, false},
      {"train", {"lora", "train"}, false},
      {"eval", {"eval"}, false},
      {"report", {}, true},
  };
  return stages;
}

std::size_t stage_index(const std::string& name) {
  const auto& stages = pipeline_stages();
  std::vector<std::string> names;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].name == name) return i;
    names.push_back(stages[i].name);
  }
  fail(ErrorKind::config, fmt::format("unknown stage '{}': stages are {}", name, join(names, ", ")));
}

std::vector<std::string> stage_hashes(const ConfigSchema& schema) {
  std::vector<std::string> hashes;
  std::string previous = "seed=" + schema.get("run.seed");
  for (const auto& stage : pipeline_stages()) {
    // Only sections that exist in this build count (a room not built yet has none).
    std::vector<std::string> present;
    std::vector<std::string> sections = stage.sections;
    // Distilling with our own engine reads the [model] checkpoint: a new one redoes distill.
    if (stage.name == "distill" && schema.has("distill.provider") && schema.get("distill.provider") == "local")
      sections.push_back("model");
    for (const auto& section : sections) {
      for (const auto& s : schema.sections())
        if (s == section) present.push_back(section);
    }
    std::string text = previous + "\n[stage " + stage.name + "]\n" +
                       (present.empty() ? std::string() : schema.to_ini(present, /*with_help=*/false));
    hashes.push_back(hash_hex(text));
    previous = hashes.back();
  }
  return hashes;
}

std::string stage_config_hash(const ConfigSchema& schema, const std::string& stage) {
  return stage_hashes(schema)[stage_index(stage)];
}

}  // namespace personas
