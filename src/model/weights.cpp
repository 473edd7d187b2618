#include "model/weights.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/errors.h"
#include "core/strings.h"

namespace personas {

const HostTensor& ModelWeights::at(const std::string& name) const {
  auto it = tensors.find(name);
  PERSONAS_CHECK(it != tensors.end(), io, "model weights have no tensor '{}'", name);
  return it->second;
}

std::string base_fingerprint(const ModelWeights& weights) {
  const auto& c = weights.config;
  std::uint64_t h = fnv1a64(fmt::format("{} {} {} {} {} {} {} {}", c.vocab_size, c.hidden_size,
                                        c.intermediate_size, c.num_hidden_layers, c.num_attention_heads,
                                        c.num_key_value_heads, c.rope_theta, c.max_position_embeddings));
  for (const auto& [name, t] : weights.tensors) {
    h = fnv1a64(name, h);
    for (auto d : t.shape) h = fnv1a64(std::to_string(d), h);
    const std::size_t n = t.data.size(), stride = std::max<std::size_t>(1, n / 4096);
    for (std::size_t i = 0; i < n; i += stride)
      h = fnv1a64(std::string_view(reinterpret_cast<const char*>(&t.data[i]), sizeof(float)), h);
  }
  return fmt::format("{:016x}", h);
}

}  // namespace personas
