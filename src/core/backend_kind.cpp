#include "core/backend_kind.h"

#include "core/choice_names.h"

namespace personas {

const std::vector<std::pair<std::string, BackendKind>>& backend_kind_names() {
  static const std::vector<std::pair<std::string, BackendKind>> names = {
      {"auto", BackendKind::automatic}, {"cpu", BackendKind::cpu}, {"cuda", BackendKind::cuda}};
  return names;
}

std::string backend_kind_word(BackendKind kind) { return choice_word(backend_kind_names(), kind); }

}  // namespace personas
