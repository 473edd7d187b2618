// Host-side weights of a checkpoint: fp32 tensors under Hugging Face names
// ("model.embed_tokens.weight", "model.layers.0.self_attn.qkv_proj.weight",
// "model.layers.0.mlp.gate_up_proj.weight", "lm_head.weight", ...). The
// HDF5 file keeps them under the same names with '.' as '/' (model/layers/0/...).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/phi3_config.h"

namespace personas {

struct HostTensor {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

struct ModelWeights {
  Phi3Config config;
  std::map<std::string, HostTensor> tensors;
  // Throws ErrorKind::io naming the tensor when it is missing.
  const HostTensor& at(const std::string& name) const;
};

// A short hash of the base model (config + shapes + a strided sample of
// every tensor), stored with adapters so one is never applied to another base.
std::string base_fingerprint(const ModelWeights& weights);

}  // namespace personas
