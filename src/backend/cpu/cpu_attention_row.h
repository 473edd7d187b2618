// One (query row, head) of decode attention on the CPU, shared by
// attention_decode and attention_decode_rows so that a row decoded in a batch
// gets exactly the bits it gets alone.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backend/cpu/cpu_kernels.h"

namespace personas::cpu {

// Below this many multiply-adds an attention loop runs on one thread: waking
// the team costs more than it saves (and a shared machine makes that worse).
constexpr double kParallelWork = 1 << 18;

// First key visible to the query at position `pos` (sliding window; 0 = none).
inline int first_key(int pos, int window) { return window > 0 ? std::max(0, pos - window + 1) : 0; }

// out_row (zeroed by the caller, hd floats) = softmax(q k_j / sqrt(hd)) v_j
// over keys j = first_key(last) .. last; k, v point at key 0 of this head
// (row stride kv_stride); p is scratch of at least last + 1 floats.
inline void decode_row_head(const float* q, const float* k, const float* v, std::int64_t kv_stride, int last,
                            int window, int hd, float scale, float* p, float* out_row) {
  const int j0 = first_key(last, window);
  float mx = -INFINITY;
  for (int j = j0; j <= last; ++j) {
    const float sc = dot(q, k + j * kv_stride, hd) * scale;
    p[j] = sc;
    mx = std::max(mx, sc);
  }
  float sum = 0.0f;
  for (int j = j0; j <= last; ++j) {
    const float e = std::exp(p[j] - mx);
    p[j] = e;
    sum += e;
  }
  for (int j = j0; j <= last; ++j) axpy(p[j] / sum, v + j * kv_stride, out_row, hd);
}

}  // namespace personas::cpu
