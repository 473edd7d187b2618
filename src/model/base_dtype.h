// How the frozen base is stored on the device (model.device_dtype, issue 19).
//
//   auto: bf16 on a CUDA backend (its matmul reads bf16 operands on the tensor
//         cores and its embedding gathers from a bf16 table), f32 elsewhere;
//   bf16: the base's matrices (embedding, q/k/v, o, gate_up, down, lm_head) in
//         bf16, rounded to nearest even once at upload; the norm weights stay
//         f32 (tiny, and rmsnorm is an f32 op);
//   f32:  everything in f32 (the CPU oracle's layout).
// LoRA A/B, their gradients, AdamW state and every activation are f32 in all cases.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/device_dtype_setting.h"
#include "model/phi3_config.h"

namespace personas {

// The dtype `setting` gives on `backend`; ErrorKind::config naming `key` for
// bf16 on a backend without bf16 matmul and embedding (the CPU).
DType resolve_device_dtype(DeviceDtypeSetting setting, const Backend& backend,
                           const std::string& key = "model.device_dtype");

// Whether the base tensor `name` takes the device dtype (a matrix) or stays f32 (a norm weight).
bool takes_device_dtype(const std::string& name);

// One base tensor as LoraModel uploads it.
struct BaseTensorUpload {
  std::string name;
  std::int64_t rows = 0, cols = 0;
  DType dtype = DType::f32;
  std::size_t bytes() const { return static_cast<std::size_t>(rows * cols) * dtype_size(dtype); }
};

// Every base tensor of `config` in upload order, with its device dtype (the
// tied lm_head is the embedding and not listed twice). LoraModel uploads
// exactly these, so the sum of bytes() is what the base asks of the pool.
std::vector<BaseTensorUpload> plan_base_upload(const Phi3Config& config, DType device_dtype);

}  // namespace personas
