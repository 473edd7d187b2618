// LoRA kernels. The rank is small (4..64), so shrink is a row-times-thin-matrix
// product (one warp per row, one warp reduction per rank component) and expand
// is a rank-sized dot per output element with t[r] staged in shared memory.
// Segments are a grid dimension: blocks past their segment's end exit.
// The backward reductions over rows (dA, dB) give each output element one
// thread looping over the rows: deterministic, no atomics.
#include "cuda_common.cuh"
#include "lora.cuh"

namespace personas::cuda {

namespace {

constexpr int kShrinkWarps = 8;      // rows per shrink block
constexpr int kExpandRows = 4;       // rows per expand block
constexpr int kExpandThreads = 256;  // output columns per expand block
constexpr int kMaxRank = 256;

__global__ void lora_shrink_kernel(const float* x, std::int64_t in, const LoraSegmentDevice* segments, int rank,
                                   float* t) {
  const LoraSegmentDevice seg = segments[blockIdx.y];
  const int lane = threadIdx.x % kWarpSize;
  const std::int64_t r = seg.row_begin + static_cast<std::int64_t>(blockIdx.x) * kShrinkWarps + threadIdx.x / kWarpSize;
  if (r >= seg.row_end) return;  // warp-uniform
  const float* xr = x + r * in;
  for (int k = 0; k < rank; ++k) {
    const float* ak = seg.weight + static_cast<std::int64_t>(k) * in;
    float acc = 0.0f;
    for (std::int64_t i = lane; i < in; i += kWarpSize) acc += xr[i] * ak[i];
    acc = warp_sum(acc);
    if (lane == 0) t[r * rank + k] = acc;
  }
}

__global__ void lora_expand_kernel(const float* t, int rank, const LoraSegmentDevice* segments, std::int64_t out,
                                   float scale, float* y) {
  __shared__ float ts[kExpandRows][kMaxRank];
  const LoraSegmentDevice seg = segments[blockIdx.z];
  const std::int64_t r0 = seg.row_begin + static_cast<std::int64_t>(blockIdx.y) * kExpandRows;
  if (r0 >= seg.row_end) return;  // block-uniform
  const int n_rows = static_cast<int>(min(static_cast<std::int64_t>(kExpandRows), seg.row_end - r0));
  for (int e = threadIdx.x; e < kExpandRows * rank; e += blockDim.x) {
    const int rr = e / rank, k = e % rank;
    ts[rr][k] = rr < n_rows ? t[(r0 + rr) * rank + k] : 0.0f;
  }
  __syncthreads();
  const std::int64_t o = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= out) return;
  const float* bo = seg.weight + o * rank;
  float acc[kExpandRows] = {};
  for (int k = 0; k < rank; ++k) {
    const float bk = bo[k];
#pragma unroll
    for (int rr = 0; rr < kExpandRows; ++rr) acc[rr] += ts[rr][k] * bk;
  }
  for (int rr = 0; rr < n_rows; ++rr) y[(r0 + rr) * out + o] += scale * acc[rr];
}

// dB[o][k] += scale * sum_r dy[r][o] t[r][k]; thread per (o, k), o fastest (coalesced dy).
__global__ void lora_db_kernel(const float* dy, const float* t, std::int64_t n, std::int64_t out, int rank,
                               float scale, float* db) {
  const std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= out * rank) return;
  const std::int64_t o = idx % out;
  const int k = static_cast<int>(idx / out);
  float acc = 0.0f;
  for (std::int64_t r = 0; r < n; ++r) acc += dy[r * out + o] * t[r * rank + k];
  db[o * rank + k] += scale * acc;
}

// dt[r][k] = scale * sum_o dy[r][o] B[o][k]; one warp per (r, k).
__global__ void lora_dt_kernel(const float* dy, const float* b, std::int64_t n, std::int64_t out, int rank,
                               float scale, float* dt) {
  const std::int64_t w = (blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  if (w >= n * rank) return;
  const std::int64_t r = w / rank;
  const int k = static_cast<int>(w % rank);
  float acc = 0.0f;
  for (std::int64_t o = lane; o < out; o += kWarpSize) acc += dy[r * out + o] * b[o * rank + k];
  acc = warp_sum(acc);
  if (lane == 0) dt[r * rank + k] = scale * acc;
}

// dA[k][i] += sum_r dt[r][k] x[r][i]; thread per (k, i), i fastest.
__global__ void lora_da_kernel(const float* dt, const float* x, std::int64_t n, std::int64_t in, int rank, float* da) {
  const std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= in * rank) return;
  const std::int64_t i = idx % in;
  const int k = static_cast<int>(idx / in);
  float acc = 0.0f;
  for (std::int64_t r = 0; r < n; ++r) acc += dt[r * rank + k] * x[r * in + i];
  da[static_cast<std::int64_t>(k) * in + i] += acc;
}

// dx[r][i] += sum_k dt[r][k] A[k][i]; thread per (r, i).
__global__ void lora_dx_kernel(const float* dt, const float* a, std::int64_t n, std::int64_t in, int rank, float* dx) {
  const std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= n * in) return;
  const std::int64_t r = idx / in, i = idx % in;
  float acc = 0.0f;
  for (int k = 0; k < rank; ++k) acc += dt[r * rank + k] * a[static_cast<std::int64_t>(k) * in + i];
  dx[idx] += acc;
}

}  // namespace

void launch_lora_shrink(const float* x, std::int64_t in, const LoraSegmentDevice* segments, int n_segments,
                        std::int64_t max_rows, int rank, float* t, cudaStream_t stream) {
  if (n_segments <= 0 || max_rows <= 0 || rank <= 0) return;
  const dim3 grid(grid_for(max_rows, kShrinkWarps), static_cast<unsigned>(n_segments));
  lora_shrink_kernel<<<grid, kShrinkWarps * kWarpSize, 0, stream>>>(x, in, segments, rank, t);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_lora_expand(const float* t, int rank, const LoraSegmentDevice* segments, int n_segments,
                        std::int64_t max_rows, std::int64_t out, float scale, float* y, cudaStream_t stream) {
  if (n_segments <= 0 || max_rows <= 0 || out <= 0) return;
  if (rank > kMaxRank) throw_kernel_error("lora_expand: rank above 256 is not supported by the CUDA kernel", __FILE__, __LINE__);
  const dim3 grid(grid_for(out, kExpandThreads), grid_for(max_rows, kExpandRows), static_cast<unsigned>(n_segments));
  lora_expand_kernel<<<grid, kExpandThreads, 0, stream>>>(t, rank, segments, out, scale, y);
  PERSONAS_CUDA_CHECK_LAUNCH();
}

void launch_lora_backward(const float* dy, const float* x, const float* t, const float* a, const float* b,
                          std::int64_t n, std::int64_t in, std::int64_t out, int rank, float scale, float* da,
                          float* db, float* dx, float* dt, cudaStream_t stream) {
  if (n <= 0 || rank <= 0) return;
  constexpr int kBlock = 256;
  lora_db_kernel<<<grid_for(out * rank, kBlock), kBlock, 0, stream>>>(dy, t, n, out, rank, scale, db);
  PERSONAS_CUDA_CHECK_LAUNCH();
  lora_dt_kernel<<<grid_for(n * rank * kWarpSize, kBlock), kBlock, 0, stream>>>(dy, b, n, out, rank, scale, dt);
  PERSONAS_CUDA_CHECK_LAUNCH();
  lora_da_kernel<<<grid_for(in * rank, kBlock), kBlock, 0, stream>>>(dt, x, n, in, rank, da);
  PERSONAS_CUDA_CHECK_LAUNCH();
  if (dx != nullptr) {
    lora_dx_kernel<<<grid_for(n * in, kBlock), kBlock, 0, stream>>>(dt, a, n, in, rank, dx);
    PERSONAS_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace personas::cuda
