// One flat fp32 arena per adapter, on the backend's device, holding
// [params | grads | adam m | adam v], each the same size and laid out the
// same way: for layer l and each target t in spec order, A [rank, in] then
// B [out, rank]. Named views ("layers.3.q.A") give the pieces; the whole
// params/grads spans go straight to allreduce, AdamW and checkpoints.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/lora_spec.h"

namespace personas {

struct LoraTensorInfo {
  std::string name;        // "layers.{l}.{target}.{A|B}"
  int layer = 0;
  LoraTarget target = LoraTarget::q;
  bool is_b = false;
  std::int64_t rows = 0, cols = 0;
  std::int64_t offset = 0; // in floats, within one section (params, grads, m or v)
};

class LoraArena {
 public:
  LoraArena(Backend& backend, const Phi3Config& config, const LoraSpec& spec);
  ~LoraArena();
  LoraArena(const LoraArena&) = delete;
  LoraArena& operator=(const LoraArena&) = delete;

  const LoraSpec& spec() const { return spec_; }
  std::int64_t n_params() const { return n_params_; }
  const std::vector<LoraTensorInfo>& tensors() const { return tensors_; }
  // Index into tensors() of (layer, target, A/B); -1 when the target is not adapted.
  int find(int layer, LoraTarget target, bool is_b) const;

  // Whole sections as device views [1, n_params].
  TensorView params() const { return section(0); }
  TensorView grads() const { return section(1); }
  TensorView adam_m() const { return section(2); }
  TensorView adam_v() const { return section(3); }
  // One tensor of a section (0 params, 1 grads, 2 m, 3 v) as a [rows, cols] view.
  TensorView view(int tensor_index, int section_index = 0) const;

  // A Kaiming-uniform (bound 1/sqrt(in), PEFT's kaiming_uniform_(a=sqrt(5))), B zero,
  // from a deterministic RNG seeded by `seed`; grads and optimizer state zero.
  void initialize(std::uint64_t seed);
  void zero_grads();
  void zero_optimizer_state();
  // AdamW over the whole params section with the grads section.
  void adamw_step(const AdamWParams& params);

  // Host copies of a section (checkpoints, allreduce on CPU ranks, tests).
  std::vector<float> to_host(int section_index) const;
  void from_host(int section_index, std::span<const float> values);

 private:
  TensorView section(int index) const;
  Backend& backend_;
  LoraSpec spec_;
  std::vector<LoraTensorInfo> tensors_;
  std::vector<int> lookup_;  // [layer][target][ab] -> tensor index or -1
  std::int64_t n_params_ = 0;
  float* storage_ = nullptr;  // 4 * n_params_ floats on the device
};

}  // namespace personas
