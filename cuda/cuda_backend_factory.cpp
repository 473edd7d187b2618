#include "cuda_backend_factory.h"

#include <cuda_runtime_api.h>

#include "core/errors.h"
#include "cuda_backend.h"

namespace personas {

int cuda_device_count(std::string& reason) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear it so later CUDA calls do not report it again
    reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(status) + " (" +
             cudaGetErrorString(status) + ")";
    return 0;
  }
  if (count <= 0) {
    reason = "no CUDA device is visible (cudaGetDeviceCount = 0; check CUDA_VISIBLE_DEVICES)";
    return 0;
  }
  return count;
}

std::unique_ptr<Backend> make_cuda_backend(int device_index, std::string& reason) {
  const int count = cuda_device_count(reason);
  if (count == 0) return nullptr;
  const int device = (device_index < 0 ? 0 : device_index) % count;
  try {
    return std::make_unique<CudaBackend>(device);
  } catch (const DeviceError& e) {  // a GPU that fails to start is a probe's answer; a bug propagates
    cudaGetLastError();
    reason = "GPU " + std::to_string(device) + " of " + std::to_string(count) + " failed to initialise: " + e.what();
    return nullptr;
  }
}

void register_cuda_backend() { register_cuda_backend_factory(&make_cuda_backend); }

}  // namespace personas
