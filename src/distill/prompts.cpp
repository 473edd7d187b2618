#include "distill/prompts.h"

#include "core/errors.h"
#include "core/strings.h"

namespace personas {

PromptSet load_prompts(const fs::path& folder) {
  PERSONAS_CHECK_HINT(fs::is_directory(folder), config,
                      "set distill.prompts to the folder holding VERSION, system.txt, batch.txt, reflect.txt, "
                      "repair.txt and shorten.txt (the repository has configs/prompts/distill-v1)",
                      "distill.prompts: '{}' is not a folder", folder.string());
  auto read = [&](const char* name) {
    auto path = folder / name;
    PERSONAS_CHECK(fs::exists(path), config, "distill.prompts: '{}' is missing", path.string());
    return read_file(path);
  };
  PromptSet p;
  auto version = std::string(trim(read("VERSION")));
  PERSONAS_CHECK(!version.empty(), config, "'{}' is empty", (folder / "VERSION").string());
  p.system = read("system.txt");
  p.batch = read("batch.txt");
  p.reflect = read("reflect.txt");
  p.repair = read("repair.txt");
  p.shorten = read("shorten.txt");
  auto digest = hash_hex(p.system + '\0' + p.batch + '\0' + p.reflect + '\0' + p.repair + '\0' + p.shorten);
  p.version = version + "@" + digest.substr(0, 8);
  return p;
}

std::string fill_template(const std::string& text, const std::map<std::string, std::string>& values,
                          const std::string& template_name) {
  std::string out;
  out.reserve(text.size() + 256);
  std::size_t pos = 0;
  while (true) {
    auto open = text.find("{{", pos);
    if (open == std::string::npos) break;
    auto close = text.find("}}", open + 2);
    PERSONAS_CHECK(close != std::string::npos, config, "prompt {}: '{{{{' without '}}}}' at byte {}", template_name, open);
    auto key = text.substr(open + 2, close - open - 2);
    auto it = values.find(key);
    PERSONAS_CHECK(it != values.end(), config, "prompt {}: unknown placeholder {{{{{}}}}}", template_name, key);
    out.append(text, pos, open - pos);
    out += it->second;
    pos = close + 2;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

}  // namespace personas
