// Error checking for CUDA runtime and cuBLAS calls, shared by the .cu kernels
// and the C++ host code. Plain C++ (no spdlog/fmt): failures throw
// std::runtime_error naming the call, file and line; CudaBackend turns them
// into personas::Error at its boundary where it matters.
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace personas::cuda {

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear the sticky-free error so later calls do not see it
  throw std::runtime_error(std::string("CUDA error ") + cudaGetErrorName(status) + " (" +
                           cudaGetErrorString(status) + ") in " + call + " at " + file + ":" +
                           std::to_string(line));
}

}  // namespace personas::cuda

#define PERSONAS_CUDA_CHECK(call) ::personas::cuda::check_cuda((call), #call, __FILE__, __LINE__)
// After a kernel launch: reports launch-configuration errors immediately.
#define PERSONAS_CUDA_CHECK_LAUNCH() ::personas::cuda::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
