// Exporting a trained adapter, and reading it back.
//
// HDF5 (RUN/train/adapters/<name>.h5, docs/training.md):
//   /                      attributes: format "personas-lora", format_version,
//                          rank, alpha, scale, dropout, use_rslora, targets
//                          ("q,k"), base_fingerprint, name, adapter, plus
//                          training facts (samples, steps, val_loss)
//   /layers/{l}/{target}/A [rank, in]     (target = q, k, v, o_proj, ...)
//   /layers/{l}/{target}/B [out, rank]
//
// PEFT (RUN/train/peft/<name>/adapter_model.safetensors + adapter_config.json)
// with the module names of the base's family. Llama bases (SmolLM2, Llama 2/3)
// get q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, each at
// rank r and alpha (gate_up_proj's B split by rows, A shared). Phi-3 fuses q, k and v in self_attn.qkv_proj, so
// our q/k/v slice adapters become ONE adapter on qkv_proj of rank n*r (n = the
// number of adapted slices): A_fused stacks the slices' A matrices, B_fused is
// block-diagonal (slice s's output rows x its own r columns, zero elsewhere),
// so B_fused A_fused = [B_q A_q; B_k A_k; 0] exactly. The scale must stay
// alpha / r, so the fused module gets alpha * n (alpha * sqrt(n) with rsLoRA);
// when other modules are adapted too, rank_pattern/alpha_pattern carry it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/fs.h"
#include "model/lora_arena.h"
#include "model/lora_spec.h"
#include "model/weights.h"

namespace personas {

inline constexpr std::int64_t kAdapterFormatVersion = 1;

struct AdapterTensors {
  LoraSpec spec;
  std::string base_fingerprint;
  std::string name;
  std::int64_t n_layers = 0;
  std::vector<LoraTensorInfo> tensors;  // layout of LoraArena
  std::vector<float> params;            // flat, arena order
  std::map<std::string, std::string> facts;  // extra attributes (strings)
};

// Host copy of adapter `arena` (params section) with the model's layout.
AdapterTensors adapter_from_arena(const LoraArena& arena, std::int64_t n_layers, const std::string& name,
                                  const std::string& fingerprint);

void write_adapter_h5(const fs::path& path, const AdapterTensors& adapter);
AdapterTensors read_adapter_h5(const fs::path& path, const Phi3Config& config);
// Loads an HDF5 adapter into an arena of the same spec (checks the fingerprint
// when `fingerprint` is non-empty).
void load_adapter_into(const fs::path& path, LoraArena& arena, const Phi3Config& config,
                       const std::string& fingerprint);

struct PeftExportOptions {
  std::string base_model_name = "microsoft/Phi-3-mini-4k-instruct";
};
// Writes adapter_model.safetensors and adapter_config.json into `folder`.
void write_peft_adapter(const fs::path& folder, const AdapterTensors& adapter, const Phi3Config& config,
                        const PeftExportOptions& options = {});

}  // namespace personas
