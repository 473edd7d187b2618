// Error checking for CUDA runtime and cuBLAS calls, shared by the .cu kernels
// and the C++ host code. Every failure throws personas::DeviceError (an
// InternalError, exit 1, core/errors.h) naming the call, its file:line and the
// CUDA error: one error type whether the fault shows at a kernel launch, a
// runtime call or a cuBLAS call. The throwing functions are defined in
// cuda_check.cpp (host compiler), so that .cu files include no fmt/spdlog.
#pragma once

#include <cuda_runtime_api.h>

namespace personas::cuda {

// Throws DeviceError for `status` (clearing CUDA's last error first).
[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line);
// Throws DeviceError for a kernel precondition the host checks missed
// (`what` says which), e.g. a LoRA rank above the kernel's limit.
[[noreturn]] void throw_kernel_error(const char* what, const char* file, int line);

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) throw_cuda_error(status, call, file, line);
}

}  // namespace personas::cuda

#define PERSONAS_CUDA_CHECK(call) ::personas::cuda::check_cuda((call), #call, __FILE__, __LINE__)
// After a kernel launch: reports launch-configuration errors immediately.
#define PERSONAS_CUDA_CHECK_LAUNCH() ::personas::cuda::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
