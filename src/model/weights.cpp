#include "model/weights.h"

#include "core/errors.h"

namespace personas {

const HostTensor& ModelWeights::at(const std::string& name) const {
  auto it = tensors.find(name);
  PERSONAS_CHECK(it != tensors.end(), io, "model weights have no tensor '{}'", name);
  return it->second;
}

}  // namespace personas
