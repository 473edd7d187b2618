// LoRA launchers (kernels in lora.cu): segment-wise (punica-style) shrink and
// expand for batches whose rows use different adapters, and the
// single-adapter backward (dA, dB, dX). fp32 parameters, fp32 math.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace personas::cuda {

// One segment of a mixed batch, as uploaded to the device: rows
// [row_begin, row_end) use the adapter matrix `weight`.
struct LoraSegmentDevice {
  std::int64_t row_begin;
  std::int64_t row_end;
  const float* weight;
};

// t[r] = x[r] A^T for r in each segment; A [rank, in]; x [n, in]; t [n, rank].
// segments: device array; max_rows = longest segment.
void launch_lora_shrink(const float* x, std::int64_t in, const LoraSegmentDevice* segments, int n_segments,
                        std::int64_t max_rows, int rank, float* t, cudaStream_t stream);
// y[r] += scale * t[r] B^T; B [out, rank]; y [n, out].
void launch_lora_expand(const float* t, int rank, const LoraSegmentDevice* segments, int n_segments,
                        std::int64_t max_rows, std::int64_t out, float scale, float* y, cudaStream_t stream);

// Backward of one adapter over n rows (dy [n, out], x [n, in], t [n, rank],
// A [rank, in], B [out, rank]); dt is scratch [n, rank]:
//   dB += scale * dy^T t;  dt = scale * dy B;  dA += dt^T x;  dx += dt A (dx may be null)
void launch_lora_backward(const float* dy, const float* x, const float* t, const float* a, const float* b,
                          std::int64_t n, std::int64_t in, std::int64_t out, int rank, float scale, float* da,
                          float* db, float* dx, float* dt, cudaStream_t stream);

}  // namespace personas::cuda
