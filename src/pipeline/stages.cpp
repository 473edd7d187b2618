#include "pipeline/stages.h"

#include <algorithm>
#include <sstream>

#include "core/errors.h"
#include "core/strings.h"
#include "pipeline/config.h"

namespace personas {

const std::vector<StageInfo>& pipeline_stages() {
  // run.seed feeds every stage that draws random numbers.
  static const std::vector<StageInfo> stages = {
      {"prepare", {"data"}, false},
      {"distill",
       {"distill"},
       false,
       {"distill.base_url", "distill.api_key_env", "distill.in_flight", "distill.connect_timeout_s",
        "distill.timeout_s", "distill.max_attempts", "distill.backoff_initial_s", "distill.backoff_max_s",
        "distill.requests_per_min", "distill.tokens_per_min", "distill.price_prompt_per_mtok",
        "distill.price_completion_per_mtok", "distill.users_per_chunk"}},
      {"model", {"model"}, false, {}, {"model.tokenizer_added"}, /*room_marks_done=*/false},
      {"embed", {"embed"}, false},
      {"cluster", {"cluster"}, false},
      {"train", {"lora", "train"}, false, {}, {"train.warm_max_steps"}},
      {"eval", {"eval"}, false, endpoint_agent_neutral_keys(), endpoint_agent_keys()},
      {"report", {}, true, {}, {}, /*room_marks_done=*/false},
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

namespace {

// The INI text of `sections` with every neutral key's value replaced by its
// default (base_url: "(set)" when set), line by line, so that a configuration
// that leaves them at their defaults hashes exactly as before they were neutral;
// an added key at its default is left out, so it hashes as before it existed
// (and so is an added key made neutral by the caller, whatever it holds).
std::string hashed_text(const ConfigSchema& schema, const std::vector<std::string>& sections,
                        const std::vector<std::string>& neutral, const std::vector<std::string>& added) {
  std::string text = schema.to_ini(sections, /*with_help=*/false);
  if (neutral.empty() && added.empty()) return text;
  Config defaults;
  ConfigSchema default_schema;
  defaults.describe(default_schema);
  std::istringstream in(text);
  std::string out, line, section;
  while (std::getline(in, line)) {
    if (starts_with(line, "[") && line.size() > 2 && line.back() == ']') section = line.substr(1, line.size() - 2);
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) {
      const std::string key = section + "." + line.substr(0, eq);
      const bool is_added = std::find(added.begin(), added.end(), key) != added.end();
      const bool is_neutral = std::find(neutral.begin(), neutral.end(), key) != neutral.end();
      if (is_added && default_schema.has(key) && (is_neutral || schema.get(key) == default_schema.get(key))) continue;
      if (is_neutral && default_schema.has(key)) {
        std::string value = default_schema.get(key);
        if (key == "distill.base_url" && !schema.get(key).empty()) value = "(set)";
        line = line.substr(0, eq) + " = " + value;
      }
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::vector<std::string> stage_hashes(const ConfigSchema& schema, const std::vector<std::string>& extra_neutral) {
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
    std::vector<std::string> neutral = stage.neutral_keys;
    neutral.insert(neutral.end(), extra_neutral.begin(), extra_neutral.end());
    std::string text = previous + "\n[stage " + stage.name + "]\n" +
                       (present.empty() ? std::string() : hashed_text(schema, present, neutral, stage.added_keys));
    hashes.push_back(hash_hex(text));
    previous = hashes.back();
  }
  return hashes;
}

std::string stage_config_hash(const ConfigSchema& schema, const std::string& stage,
                              const std::vector<std::string>& extra_neutral) {
  return stage_hashes(schema, extra_neutral)[stage_index(stage)];
}

}  // namespace personas
