// Batch-invariant matmul launchers (kernels in matmul_rows.cu), for
// Backend::matmul_batch_invariant: y = alpha x W^T + beta y (beta 0: y not
// read), x [m,k] fp32, W [n,k] fp32 or bf16, y [m,n] fp32. One warp per output
// column; lane l sums k = l, l + 32, ... in order with fmaf, then a fixed
// shuffle tree; every row runs the same code, so a row's bits do not depend
// on m or on its place among the rows (cuBLAS picks algorithms and K splits by
// shape, which batched decoding must not see).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

void launch_matmul_rows(const float* x, const float* w, float* y, std::int64_t m, std::int64_t n, std::int64_t k,
                        float alpha, float beta, cudaStream_t stream);
// W in bf16 (`w` points to n*k bf16 values).
void launch_matmul_rows_bf16(const float* x, const void* w, float* y, std::int64_t m, std::int64_t n, std::int64_t k,
                             float alpha, float beta, cudaStream_t stream);

}  // namespace personas::cuda
