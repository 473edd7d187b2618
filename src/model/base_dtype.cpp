#include "model/base_dtype.h"

#include "core/errors.h"
#include "model/checkpoint.h"

namespace personas {

const std::vector<std::pair<std::string, DeviceDtypeSetting>>& device_dtype_setting_names() {
  static const std::vector<std::pair<std::string, DeviceDtypeSetting>> names = {
      {"auto", DeviceDtypeSetting::automatic}, {"bf16", DeviceDtypeSetting::bf16}, {"f32", DeviceDtypeSetting::f32}};
  return names;
}

DType resolve_device_dtype(DeviceDtypeSetting setting, const Backend& backend, const std::string& key) {
  const bool has_bf16 = backend.supports(Op::matmul, DType::bf16) && backend.supports(Op::embedding, DType::bf16);
  switch (setting) {
    case DeviceDtypeSetting::automatic:
      return backend.device() == DeviceKind::cuda && has_bf16 ? DType::bf16 : DType::f32;
    case DeviceDtypeSetting::f32: return DType::f32;
    case DeviceDtypeSetting::bf16:
      PERSONAS_CHECK_HINT(has_bf16, config, "set " + key + " = auto (bf16 on a GPU, f32 on the CPU) or f32",
                          "{} = bf16: the {} backend has no bf16 matmul and embedding", key, backend.name());
      return DType::bf16;
  }
  PERSONAS_FAIL(internal, "{}: unhandled setting {}", key, static_cast<int>(setting));
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
