// k-means assignment launcher (kernel in kmeans.cu).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

// labels[i] = argmin_c ||x_i - c||^2 (ties: lowest c), distances[i] = that
// distance, each computed directly in double (sixteen partial sums, the same
// arithmetic as the CPU's exact_squared_distance, so labels and distances
// match the CPU bit for bit).
void launch_kmeans_assign(const float* points, std::int64_t n, const float* centroids, std::int64_t k,
                          std::int64_t d, std::int32_t* labels, float* distances, cudaStream_t stream);

}  // namespace personas::cuda
