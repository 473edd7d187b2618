#include "cluster/kmeans_assign_step.h"

#include "core/errors.h"

#include <functional>

namespace personas {
namespace {

// Device buffers grown on demand; copies points and centroids each call.
struct DeviceAssign {
  Backend* backend;
  void operator()(const float* points, std::int64_t n, const float* centroids, int k, int d, std::int32_t* labels,
                  float* distances) const {
    auto alloc = [&](std::size_t bytes) {
      return std::unique_ptr<void, std::function<void(void*)>>(backend->allocate(bytes),
                                                              [b = backend](void* p) { b->release(p); });
    };
    const std::size_t pb = static_cast<std::size_t>(n) * d * sizeof(float), cb = static_cast<std::size_t>(k) * d * sizeof(float);
    auto dp = alloc(pb), dc = alloc(cb), dl = alloc(static_cast<std::size_t>(n) * sizeof(std::int32_t)),
         dd = alloc(static_cast<std::size_t>(n) * sizeof(float));
    backend->copy_to_device(dp.get(), points, pb);
    backend->copy_to_device(dc.get(), centroids, cb);
    backend->kmeans_assign({dp.get(), DType::f32, n, d}, {dc.get(), DType::f32, k, d}, {dl.get(), DType::i32, n, 1},
                           {dd.get(), DType::f32, n, 1});
    backend->copy_to_host(labels, dl.get(), static_cast<std::size_t>(n) * sizeof(std::int32_t));
    backend->copy_to_host(distances, dd.get(), static_cast<std::size_t>(n) * sizeof(float));
    backend->synchronize();
  }
};

}  // namespace

KMeansAssignStep make_kmeans_assign_step(BackendKind backend_kind, int device_index) {
  KMeansAssignStep step;
  step.backend = make_backend(backend_kind, device_index);
  PERSONAS_CHECK(step.backend->supports(Op::kmeans_assign, DType::f32), config,
                 "backend {} has no kmeans_assign for f32", step.backend->name());
  step.name = step.backend->name();
  if (step.backend->device() == DeviceKind::cpu) {
    step.assign = cpu_assign_fn();  // CpuBackend::kmeans_assign's kernel, called per chunk
    step.in_threads = true;
  } else {
    step.assign = DeviceAssign{step.backend.get()};
    step.in_threads = false;
  }
  return step;
}

}  // namespace personas
