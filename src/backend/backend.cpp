#include "backend/backend.h"

#include <mutex>

#include "backend/cpu/cpu_backend.h"
#include "core/errors.h"
#include "core/log.h"

namespace personas {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::i32: return "i32";
  }
  return "?";
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::i32: return 4;
  }
  return 0;
}

const char* op_name(Op op) {
  switch (op) {
    case Op::embedding: return "embedding";
    case Op::rmsnorm: return "rmsnorm";
    case Op::matmul: return "matmul";
    case Op::rope: return "rope";
    case Op::attention: return "attention";
    case Op::swiglu: return "swiglu";
    case Op::cross_entropy: return "cross_entropy";
    case Op::lora: return "lora";
    case Op::adamw: return "adamw";
    case Op::kmeans_assign: return "kmeans_assign";
    case Op::elementwise: return "elementwise";
    case Op::dropout: return "dropout";
    case Op::attention_decode: return "attention_decode";
    case Op::reduce: return "reduce";
  }
  return "?";
}

std::vector<std::uint8_t> Backend::group_reducer_id() {
  PERSONAS_FAIL(internal, "backend {} has no device-side group reduction (check supports_group_reduce first)", name());
}

std::unique_ptr<DeviceGroupReducer> Backend::make_group_reducer(std::span<const std::uint8_t>, int, int) {
  PERSONAS_FAIL(internal, "backend {} has no device-side group reduction (check supports_group_reduce first)", name());
}

namespace {
std::mutex g_factory_mutex;
CudaBackendFactory g_cuda_factory = nullptr;
}  // namespace

void register_cuda_backend_factory(CudaBackendFactory factory) {
  std::lock_guard lock(g_factory_mutex);
  g_cuda_factory = factory;
}

std::unique_ptr<Backend> make_backend(BackendKind kind, int device_index) {
  if (kind == BackendKind::cpu) {
    plog::info("backend: cpu (requested)");
    return std::make_unique<CpuBackend>();
  }
  CudaBackendFactory factory = nullptr;
  {
    std::lock_guard lock(g_factory_mutex);
    factory = g_cuda_factory;
  }
  std::string reason;
  if (factory == nullptr) {
    reason = "this build has no CUDA backend";
  } else {
    auto backend = factory(device_index, reason);
    if (backend) {
      plog::info("backend: {} (device {})", backend->name(), device_index);
      return backend;
    }
  }
  PERSONAS_CHECK_HINT(kind != BackendKind::cuda, config, "set run.backend = auto or cpu on this machine",
                      "run.backend = cuda, but no CUDA backend is available: {}", reason);
  plog::info("backend: cpu (auto; CUDA not used: {})", reason);
  return std::make_unique<CpuBackend>();
}

}  // namespace personas
