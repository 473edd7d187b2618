// model.device_dtype: how the frozen base is asked to be stored on the device
// (model/base_dtype.h resolves it against the backend).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace personas {

// automatic = bf16 on a CUDA backend, f32 elsewhere.
enum class DeviceDtypeSetting { automatic, bf16, f32 };

// {"auto", automatic}, {"bf16", bf16}, {"f32", f32}: the words of model.device_dtype.
const std::vector<std::pair<std::string, DeviceDtypeSetting>>& device_dtype_setting_names();

}  // namespace personas
