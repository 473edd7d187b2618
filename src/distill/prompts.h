// The versioned prompt files of the LLM providers (configs/prompts/<name>/):
//   VERSION      one line, e.g. "distill-v1"; bump it when a prompt changes
//   system.txt   the system message of every conversation
//   batch.txt    one batch of interactions: notes + updated profile
//   reflect.txt  the self-reflection round after the last batch
//   repair.txt   sent once when an answer is not the JSON asked for
//   shorten.txt  sent once when a profile is over the word cap
// Placeholders are {{name}}; an unknown or missing one is an error. The
// version stored with outputs is "VERSION@hash8" of the files' bytes, so an
// edit without a bump is still told apart.
#pragma once

#include <map>
#include <string>

#include "core/fs.h"

namespace personas {

struct PromptSet {
  std::string version;  // "distill-v1@1a2b3c4d"
  std::string system, batch, reflect, repair, shorten;
};

PromptSet load_prompts(const fs::path& folder);

// Replaces every {{key}}; ErrorKind::config when a placeholder has no value.
std::string fill_template(const std::string& text, const std::map<std::string, std::string>& values,
                          const std::string& template_name);

}  // namespace personas
