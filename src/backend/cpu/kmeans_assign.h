// The CPU k-means assignment (Backend::kmeans_assign semantics) as a free
// function, so that CpuBackend and the cluster room share one implementation.
#pragma once

#include <cstdint>

namespace personas {

// labels[i] = argmin_c ||x_i - c||^2 over the k centroids, ties to the lowest c;
// distances[i] = that squared distance. points [n, d], centroids [k, d], row-major f32.
//
// How: rows go in blocks of 256 (OpenMP over blocks); the dot products x.c of a
// block come from a register-tiled AVX2 kernel (sgemm on CPUs without AVX2),
// giving ||x||^2 - 2 x.c + ||c||^2. That expansion
// has rounding error, so every centroid within a bound of the best one (the
// bound covers the dot products' error) is re-checked with the direct difference
// sum_t (x_t - c_t)^2 accumulated in double, and the lowest index wins on an
// exact tie. The reported distance is always the direct one. Each row's result
// is a function of that row and the centroids only: it does not depend on the
// block it falls in, the thread count or how points are split over ranks.
//
// Called from inside an OpenMP parallel region it runs in the calling thread.
void cpu_kmeans_assign(const float* points, std::int64_t n, const float* centroids, std::int64_t k, std::int64_t d,
                       std::int32_t* labels, float* distances);

// The direct squared distance used above (double accumulation, fixed order).
double exact_squared_distance(const float* a, const float* b, std::int64_t d);

}  // namespace personas
