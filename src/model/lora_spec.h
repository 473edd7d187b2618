// What a LoRA adapter adapts and how (PEFT's LoraConfig, Phi-3 module names).
// Targets: "q", "k", "v" are row slices of the fused self_attn.qkv_proj
// (rows [0, q_dim), [q_dim, q_dim+kv_dim), [q_dim+kv_dim, q_dim+2kv_dim)),
// "o_proj", "gate_up_proj", "down_proj" are whole modules. PEFT users who
// target "qkv_proj" get one adapter over the fused output; we adapt the
// slices separately (as the paper's q,k-only setting needs).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model/phi3_config.h"

namespace personas {

enum class LoraTarget : int { q = 0, k, v, o_proj, gate_up_proj, down_proj };
inline constexpr int kLoraTargetCount = 6;
const char* lora_target_name(LoraTarget t);  // "q", "k", "v", "o_proj", "gate_up_proj", "down_proj"
// Accepts the names above plus "q_proj", "k_proj", "v_proj", "o", "gate_up", "down";
// throws ErrorKind::config naming `where` for anything else.
LoraTarget parse_lora_target(const std::string& name, const std::string& where);

struct LoraSpec {
  std::vector<LoraTarget> targets = {LoraTarget::q, LoraTarget::k};
  int rank = 8;
  float alpha = 16.0f;
  float dropout = 0.0f;          // on the adapter input x, training only
  bool use_rslora = false;       // scale alpha/sqrt(rank) instead of alpha/rank
  bool recompute = false;        // activation recompute: keep only layer inputs, redo the layer in backward
  std::uint64_t seed = 0;        // A init (Kaiming-uniform, a = sqrt(5) like PEFT) and dropout masks

  float scale() const;
  bool has(LoraTarget t) const;
  // (out_features, in_features) of the adapted weight slice for this model.
  static std::array<std::int64_t, 2> target_shape(const Phi3Config& config, LoraTarget t);
  void validate(const std::string& where) const;
};

}  // namespace personas
