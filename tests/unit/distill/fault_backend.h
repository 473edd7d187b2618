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
  // The op that faults: the n-th (1-based) call of attention_decode, the op
  // of every generated token (so the model loads and the prompt runs first).
  explicit FaultBackend(int fault_at_decode_call) : fault_at_(fault_at_decode_call) {}
  int decode_calls() const { return decode_calls_; }
  std::string name() const override { return "fault-injecting cpu"; }

  void attention_decode(TensorView q, TensorView k_cache, TensorView v_cache, int past, const AttentionShape& shape,
                        TensorView out) override {
    if (++decode_calls_ == fault_at_)
      throw DeviceError("CUDA cudaMalloc", "cudaErrorMemoryAllocation (out of memory)",
                        "allocate of 1048576 bytes on GPU 0 (injected by the test)", __FILE__, __LINE__);
    CpuBackend::attention_decode(q, k_cache, v_cache, past, shape, out);
  }

 private:
  int fault_at_;
  std::atomic<int> decode_calls_{0};
};

}  // namespace personas::testing
