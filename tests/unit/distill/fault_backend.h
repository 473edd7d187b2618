// A Backend that behaves like the CPU backend until it faults: the chosen op
// then throws the DeviceError a CUDA out-of-memory would (same type, kind and
// message shape as cuda/cuda_backend.cpp's). It lets the tests show, on a
// machine without a GPU, what a device fault does to a stage.
#pragma once

#include <atomic>

#include "backend/cpu/cpu_backend.h"
#include "core/errors.h"

namespace personas::testing {

class FaultBackend final : public CpuBackend {
 public:
  // The op that faults: the n-th (1-based) call of rmsnorm_forward, which
  // every forward pass makes (prompt, decode step or scoring) and loading
  // does not, so the model loads and the first forwards run first.
  explicit FaultBackend(int fault_at_call) : fault_at_(fault_at_call) {}
  int calls() const { return calls_; }
  std::string name() const override { return "fault-injecting cpu"; }

  void rmsnorm_forward(TensorView x, TensorView weight, float eps, TensorView out, TensorView rstd) override {
    if (++calls_ == fault_at_)
      throw DeviceError("CUDA cudaMalloc", "cudaErrorMemoryAllocation (out of memory)",
                        "allocate of 1048576 bytes on GPU 0 (injected by the test)", __FILE__, __LINE__);
    CpuBackend::rmsnorm_forward(x, weight, eps, out, rstd);
  }

 private:
  int fault_at_;
  std::atomic<int> calls_{0};
};

}  // namespace personas::testing
