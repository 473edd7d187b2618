// k-means assignment: one block per point, threads over centroids, a block
// argmin with the lowest index winning ties.
#include "cuda_common.cuh"
#include "kmeans.cuh"

namespace personas::cuda {

namespace {

constexpr int kBlock = 128;

__global__ void kmeans_assign_kernel(const float* points, const float* centroids, std::int64_t k, std::int64_t d,
                                     std::int32_t* labels, float* distances) {
  __shared__ double best_dist[kBlock];
  __shared__ std::int64_t best_index[kBlock];
  const std::int64_t i = blockIdx.x;
  const float* x = points + i * d;
  double my_best = 0.0;
  std::int64_t my_index = -1;
  for (std::int64_t c = threadIdx.x; c < k; c += blockDim.x) {
    const float* cc = centroids + c * d;
    // Sixteen partial sums s[t mod 16] combined in a fixed tree, with explicit
    // rounding (no FMA contraction): the CPU's exact_squared_distance bit for bit.
    double s[16];
    for (int j = 0; j < 16; ++j) s[j] = 0.0;
    for (std::int64_t t = 0; t < d; ++t) {
      const double diff = __dsub_rn(static_cast<double>(x[t]), static_cast<double>(cc[t]));
      s[t % 16] = __dadd_rn(s[t % 16], __dmul_rn(diff, diff));
    }
    double v[4];
    for (int l = 0; l < 4; ++l) v[l] = __dadd_rn(__dadd_rn(s[l], s[4 + l]), __dadd_rn(s[8 + l], s[12 + l]));
    const double acc = __dadd_rn(__dadd_rn(v[0], v[1]), __dadd_rn(v[2], v[3]));
    if (my_index < 0 || acc < my_best) {  // c increases, so ties keep the lower index
      my_best = acc;
      my_index = c;
    }
  }
  best_dist[threadIdx.x] = my_best;
  best_index[threadIdx.x] = my_index;
  __syncthreads();
  for (int stride = kBlock / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      const std::int64_t oi = best_index[threadIdx.x + stride];
      const double od = best_dist[threadIdx.x + stride];
      const std::int64_t mi = best_index[threadIdx.x];
      const double md = best_dist[threadIdx.x];
      if (oi >= 0 && (mi < 0 || od < md || (od == md && oi < mi))) {
        best_index[threadIdx.x] = oi;
        best_dist[threadIdx.x] = od;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    labels[i] = static_cast<std::int32_t>(best_index[0]);
    distances[i] = static_cast<float>(best_dist[0]);
  }
}

}  // namespace

void launch_kmeans_assign(const float* points, std::int64_t n, const float* centroids, std::int64_t k,
                          std::int64_t d, std::int32_t* labels, float* distances, cudaStream_t stream) {
  if (n <= 0 || k <= 0) return;
  kmeans_assign_kernel<<<static_cast<unsigned>(n), kBlock, 0, stream>>>(points, centroids, k, d, labels, distances);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

}  // namespace personas::cuda
