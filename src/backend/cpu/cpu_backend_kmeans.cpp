// CpuBackend::kmeans_assign delegates to the cluster room's kernel
// (backend/cpu/kmeans_assign.h, owned by the clustering work).
#include "backend/cpu/cpu_backend.h"
#include "core/errors.h"

#if __has_include("backend/cpu/kmeans_assign.h")
#include "backend/cpu/kmeans_assign.h"
#define PERSONAS_HAVE_CPU_KMEANS_ASSIGN 1
#endif

namespace personas {

void CpuBackend::kmeans_assign(TensorView points, TensorView centroids, TensorView labels, TensorView distances) {
#ifdef PERSONAS_HAVE_CPU_KMEANS_ASSIGN
  PERSONAS_ASSERT(points.cols == centroids.cols && labels.numel() == points.rows && distances.numel() == points.rows,
                  "kmeans_assign: points [{},{}] centroids [{},{}] labels {} distances {}", points.rows, points.cols,
                  centroids.rows, centroids.cols, labels.numel(), distances.numel());
  cpu_kmeans_assign(points.f32(), points.rows, centroids.f32(), centroids.rows, points.cols, labels.i32(),
                    distances.f32());
#else
  PERSONAS_FAIL(internal, "kmeans_assign: the CPU kernel (backend/cpu/kmeans_assign.h) is not in this build");
#endif
}

}  // namespace personas
