#include "model/lora_spec.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace personas {

const char* lora_target_name(LoraTarget t) {
  switch (t) {
    case LoraTarget::q: return "q";
    case LoraTarget::k: return "k";
    case LoraTarget::v: return "v";
    case LoraTarget::o_proj: return "o_proj";
    case LoraTarget::gate_up_proj: return "gate_up_proj";
    case LoraTarget::down_proj: return "down_proj";
  }
  return "?";
}

LoraTarget parse_lora_target(const std::string& name, const std::string& where) {
  if (name == "q" || name == "q_proj") return LoraTarget::q;
  if (name == "k" || name == "k_proj") return LoraTarget::k;
  if (name == "v" || name == "v_proj") return LoraTarget::v;
  if (name == "o" || name == "o_proj") return LoraTarget::o_proj;
  if (name == "gate_up" || name == "gate_up_proj") return LoraTarget::gate_up_proj;
  if (name == "down" || name == "down_proj") return LoraTarget::down_proj;
  fail(ErrorKind::config, fmt::format("{}: unknown LoRA target '{}'", where, name),
       "targets are among q, k, v, o_proj, gate_up_proj, down_proj");
}

float LoraSpec::scale() const {
  return use_rslora ? alpha / std::sqrt(static_cast<float>(rank)) : alpha / static_cast<float>(rank);
}

bool LoraSpec::has(LoraTarget t) const { return std::find(targets.begin(), targets.end(), t) != targets.end(); }

std::array<std::int64_t, 2> LoraSpec::target_shape(const Phi3Config& c, LoraTarget t) {
  const std::int64_t h = c.hidden_size, qd = c.head_dim() * c.num_attention_heads, kvd = c.kv_dim();
  switch (t) {
    case LoraTarget::q: return {qd, h};
    case LoraTarget::k: return {kvd, h};
    case LoraTarget::v: return {kvd, h};
    case LoraTarget::o_proj: return {h, qd};
    case LoraTarget::gate_up_proj: return {2 * c.intermediate_size, h};
    case LoraTarget::down_proj: return {h, c.intermediate_size};
  }
  return {0, 0};
}

void LoraSpec::validate(const std::string& where) const {
  PERSONAS_CHECK(rank >= 1, config, "{}: LoRA rank {} must be >= 1", where, rank);
  PERSONAS_CHECK(alpha > 0.0f, config, "{}: LoRA alpha {} must be > 0", where, alpha);
  PERSONAS_CHECK(dropout >= 0.0f && dropout < 1.0f, config, "{}: LoRA dropout {} must be in [0, 1)", where, dropout);
  PERSONAS_CHECK(!targets.empty(), config, "{}: no LoRA targets", where);
  for (std::size_t i = 0; i < targets.size(); ++i)
    for (std::size_t j = i + 1; j < targets.size(); ++j)
      PERSONAS_CHECK(targets[i] != targets[j], config, "{}: LoRA target '{}' listed twice", where,
                     lora_target_name(targets[i]));
}

}  // namespace personas
