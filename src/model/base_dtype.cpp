#include "model/base_dtype.h"

#include "core/errors.h"
#include "model/checkpoint.h"

namespace personas {

DType resolve_device_dtype(const std::string& setting, const Backend& backend, const std::string& key) {
  const bool has_bf16 = backend.supports(Op::matmul, DType::bf16) && backend.supports(Op::embedding, DType::bf16);
  if (setting == "auto") return backend.device() == DeviceKind::cuda && has_bf16 ? DType::bf16 : DType::f32;
  if (setting == "f32") return DType::f32;
  if (setting == "bf16") {
    PERSONAS_CHECK_HINT(has_bf16, config, "set " + key + " = auto (bf16 on a GPU, f32 on the CPU) or f32",
                        "{} = bf16: the {} backend has no bf16 matmul and embedding", key, backend.name());
    return DType::bf16;
  }
  PERSONAS_FAIL(config, "{} = '{}': expected auto, bf16 or f32", key, setting);
}

bool takes_device_dtype(const std::string& name) { return name.find("norm") == std::string::npos; }

std::vector<BaseTensorUpload> plan_base_upload(const Phi3Config& config, DType device_dtype) {
  std::vector<BaseTensorUpload> plan;
  for (const TensorSpec& t : expected_tensors(config)) {
    BaseTensorUpload u;
    u.name = t.name;
    u.rows = t.shape.size() == 1 ? 1 : t.shape[0];
    u.cols = t.shape.back();
    u.dtype = takes_device_dtype(t.name) ? device_dtype : DType::f32;
    plan.push_back(u);
  }
  return plan;
}

}  // namespace personas
