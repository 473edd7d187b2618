#include "cuda_check.h"

#include <string>

#include "core/errors.h"

namespace personas::cuda {

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so that later calls do not report it again
  std::string hint;
  if (status == cudaErrorMemoryAllocation)
    hint = "the GPU is out of memory: lower train.micro_batch or the sequence length, or use fewer ranks per GPU";
  throw DeviceError(std::string("CUDA ") + call,
                    std::string(cudaGetErrorName(status)) + " (" + cudaGetErrorString(status) + ")", {}, file, line,
                    hint);
}

void throw_kernel_error(const char* what, const char* file, int line) {
  throw DeviceError("CUDA kernel launch", "unsupported", what, file, line);
}

}  // namespace personas::cuda
