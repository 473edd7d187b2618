#include "core/choice_names.h"

#include <fmt/format.h>

namespace personas {

void fail_unknown_choice(ErrorKind kind, const std::string& key, const std::string& word, const std::string& words) {
  fail(kind, fmt::format("{}: '{}' is not one of {}", key, word, words));
}

}  // namespace personas
