#include "backend/cpu/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "core/errors.h"
#include "core/hash.h"

namespace personas {

namespace {

void check_f32(const TensorView& t, const char* what) {
  PERSONAS_ASSERT(t.dtype == DType::f32, "{}: expected f32, got {}", what, dtype_name(t.dtype));
}
void check_i32(const TensorView& t, const char* what) {
  PERSONAS_ASSERT(t.dtype == DType::i32, "{}: expected i32, got {}", what, dtype_name(t.dtype));
}
void check_same_shape(const TensorView& a, const TensorView& b, const char* what) {
  PERSONAS_ASSERT(a.rows == b.rows && a.cols == b.cols, "{}: shapes [{},{}] and [{},{}] differ", what, a.rows, a.cols,
                  b.rows, b.cols);
}

}  // namespace

float dropout_uniform(std::uint64_t seed, std::uint64_t index) {
  const std::uint64_t h = splitmix64_hash(splitmix64_hash(seed) ^ index);
  return static_cast<float>(h >> 40) * (1.0f / 16777216.0f);  // 24 bits -> [0, 1)
}

CachingAllocatorOptions cpu_allocator_defaults() {
  CachingAllocatorOptions o;
  o.max_cached_bytes = std::size_t{2} << 30;
  return o;
}

CpuBackend::CpuBackend() : CpuBackend(cpu_allocator_defaults()) {}

CpuBackend::CpuBackend(CachingAllocatorOptions allocator)
    : pool_(std::make_unique<CachingAllocator>(
          // Block sizes are multiples of 512, so of the alignment as aligned_alloc requires.
          [](std::size_t bytes) { return std::aligned_alloc(64, bytes); },
          [](void* pointer, std::size_t) { std::free(pointer); }, allocator)) {
  PERSONAS_ASSERT(allocator.small_round % 64 == 0, "CpuBackend: allocator.small_round {} is not a multiple of 64",
                  allocator.small_round);
}

CpuBackend::~CpuBackend() = default;

bool CpuBackend::supports(Op op, DType dtype) const {
  if (op == Op::embedding || op == Op::cross_entropy || op == Op::kmeans_assign)
    return dtype == DType::f32 || dtype == DType::i32;
  return dtype == DType::f32;
}

// ---- memory -------------------------------------------------------------------
void* CpuBackend::allocate(std::size_t bytes) {
  void* p = pool_->allocate(bytes);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void CpuBackend::release(void* pointer) { pool_->release(pointer); }
void CpuBackend::copy_to_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void CpuBackend::copy_to_host(void* dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void CpuBackend::copy_on_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes && dst != src) std::memmove(dst, src, bytes);
}
void CpuBackend::fill_zero(TensorView t) {
  if (t.numel() > 0) std::memset(t.data, 0, static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype));
}

// ---- elementwise ----------------------------------------------------------------
void CpuBackend::add(TensorView y, TensorView x, float alpha) {
  check_f32(y, "add.y");
  check_f32(x, "add.x");
  check_same_shape(y, x, "add");
  float* py = y.f32();
  const float* px = x.f32();
  const std::int64_t n = y.numel();
#pragma omp parallel for simd if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) py[i] += alpha * px[i];
}

void CpuBackend::dropout(TensorView x, TensorView out, float p, std::uint64_t seed) {
  check_f32(x, "dropout.x");
  check_same_shape(x, out, "dropout");
  PERSONAS_ASSERT(p >= 0.0f && p < 1.0f, "dropout p {} outside [0, 1)", p);
  const float keep_scale = 1.0f / (1.0f - p);
  const float* px = x.f32();
  float* po = out.f32();
  const std::int64_t n = x.numel();
#pragma omp parallel for if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i)
    po[i] = dropout_uniform(seed, static_cast<std::uint64_t>(i)) >= p ? px[i] * keep_scale : 0.0f;
}

void CpuBackend::scale(TensorView x, float alpha) {
  check_f32(x, "scale.x");
  float* px = x.f32();
  const std::int64_t n = x.numel();
#pragma omp parallel for simd if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) px[i] *= alpha;
}

double CpuBackend::sum_squares(TensorView x) {
  check_f32(x, "sum_squares.x");
  // One thread, index order: the reference the GPU's tree sum is checked
  // against, and the order the trainer's host loop used (same bits).
  const float* px = x.f32();
  double sum = 0.0;
  for (std::int64_t i = 0; i < x.numel(); ++i) sum += static_cast<double>(px[i]) * px[i];
  return sum;
}

// ---- embedding ----------------------------------------------------------------------
void CpuBackend::embedding_forward(TensorView ids, TensorView table, TensorView out) {
  check_i32(ids, "embedding.ids");
  check_f32(table, "embedding.table");
  PERSONAS_ASSERT(out.rows == ids.numel() && out.cols == table.cols, "embedding: out [{},{}] for {} ids, width {}",
                  out.rows, out.cols, ids.numel(), table.cols);
  const std::int64_t width = table.cols;
  const std::int32_t* pid = ids.i32();
  for (std::int64_t i = 0; i < ids.numel(); ++i) {
    const std::int64_t id = pid[i];
    PERSONAS_ASSERT(id >= 0 && id < table.rows, "embedding: id {} at {} outside [0, {})", id, i, table.rows);
    std::memcpy(out.f32() + i * width, table.f32() + id * width, static_cast<std::size_t>(width) * 4);
  }
}

void CpuBackend::embedding_backward(TensorView dout, TensorView ids, TensorView dtable) {
  check_i32(ids, "embedding_backward.ids");
  PERSONAS_ASSERT(dout.rows == ids.numel() && dout.cols == dtable.cols, "embedding_backward: shapes");
  const std::int64_t width = dtable.cols;
  for (std::int64_t i = 0; i < ids.numel(); ++i) {
    const std::int64_t id = ids.i32()[i];
    if (id < 0) continue;
    PERSONAS_ASSERT(id < dtable.rows, "embedding_backward: id {} outside [0, {})", id, dtable.rows);
    cpu::axpy(1.0f, dout.f32() + i * width, dtable.f32() + id * width, width);
  }
}

// ---- rmsnorm ----------------------------------------------------------------------------
void CpuBackend::rmsnorm_forward(TensorView x, TensorView weight, float eps, TensorView out, TensorView rstd) {
  check_f32(x, "rmsnorm.x");
  check_same_shape(x, out, "rmsnorm");
  PERSONAS_ASSERT(weight.numel() == x.cols && rstd.numel() == x.rows, "rmsnorm: weight/rstd sizes");
  const std::int64_t n = x.rows, d = x.cols;
#pragma omp parallel for if (n * d > (1 << 16))
  for (std::int64_t r = 0; r < n; ++r) {
    const float* px = x.f32() + r * d;
    float* po = out.f32() + r * d;
    const float* w = weight.f32();
    const float ms = cpu::dot(px, px, d) / static_cast<float>(d);
    const float s = 1.0f / std::sqrt(ms + eps);
    rstd.f32()[r] = s;
#pragma omp simd
    for (std::int64_t j = 0; j < d; ++j) po[j] = w[j] * (px[j] * s);
  }
}

void CpuBackend::rmsnorm_backward(TensorView dout, TensorView x, TensorView weight, TensorView rstd, TensorView dx,
                                  bool accumulate) {
  check_same_shape(dout, x, "rmsnorm_backward");
  check_same_shape(dx, x, "rmsnorm_backward.dx");
  const std::int64_t n = x.rows, d = x.cols;
#pragma omp parallel for if (n * d > (1 << 16))
  for (std::int64_t r = 0; r < n; ++r) {
    const float* px = x.f32() + r * d;
    const float* g = dout.f32() + r * d;
    const float* w = weight.f32();
    float* pdx = dx.f32() + r * d;
    const float s = rstd.f32()[r];
    float gwx = 0.0f;
#pragma omp simd reduction(+ : gwx)
    for (std::int64_t j = 0; j < d; ++j) gwx += g[j] * w[j] * px[j];
    const float c = gwx * s * s * s / static_cast<float>(d);
    if (accumulate) {
#pragma omp simd
      for (std::int64_t j = 0; j < d; ++j) pdx[j] += g[j] * w[j] * s - px[j] * c;
    } else {
#pragma omp simd
      for (std::int64_t j = 0; j < d; ++j) pdx[j] = g[j] * w[j] * s - px[j] * c;
    }
  }
}

// ---- matmul -----------------------------------------------------------------------------------
void CpuBackend::matmul(TensorView a, bool transpose_a, TensorView b, bool transpose_b, TensorView c, float alpha,
                        float beta) {
  check_f32(a, "matmul.a");
  check_f32(b, "matmul.b");
  check_f32(c, "matmul.c");
  const std::int64_t m = transpose_a ? a.cols : a.rows;
  const std::int64_t k = transpose_a ? a.rows : a.cols;
  const std::int64_t kb = transpose_b ? b.cols : b.rows;
  const std::int64_t n = transpose_b ? b.rows : b.cols;
  PERSONAS_ASSERT(k == kb && c.rows == m && c.cols == n, "matmul: op(a) [{},{}] op(b) [{},{}] c [{},{}]", m, k, kb,
                  n, c.rows, c.cols);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == 0.0f) fill_zero(c);
    else if (beta != 1.0f) cblas_sscal(static_cast<int>(c.numel()), beta, c.f32(), 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a.f32(),
              static_cast<int>(a.cols), b.f32(), static_cast<int>(b.cols), beta, c.f32(), static_cast<int>(c.cols));
}

// ---- rope ---------------------------------------------------------------------------------------
void CpuBackend::rope(TensorView x, TensorView positions, int n_heads, int head_dim, int rotary_dim, float theta,
                      bool inverse) {
  check_f32(x, "rope.x");
  check_i32(positions, "rope.positions");
  PERSONAS_ASSERT(x.cols == static_cast<std::int64_t>(n_heads) * head_dim && positions.numel() == x.rows,
                  "rope: x [{},{}] for {} heads of {}, {} positions", x.rows, x.cols, n_heads, head_dim,
                  positions.numel());
  PERSONAS_ASSERT(rotary_dim % 2 == 0 && rotary_dim <= head_dim, "rope: rotary_dim {}", rotary_dim);
  const int half = rotary_dim / 2;
  std::vector<double> inv_freq(static_cast<std::size_t>(half));
  for (int j = 0; j < half; ++j)
    inv_freq[static_cast<std::size_t>(j)] = 1.0 / std::pow(static_cast<double>(theta), (2.0 * j) / rotary_dim);
  const float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel if (x.rows * x.cols > (1 << 16))
  {
    std::vector<float> cs(static_cast<std::size_t>(half)), sn(static_cast<std::size_t>(half));
#pragma omp for
    for (std::int64_t r = 0; r < x.rows; ++r) {
      const double pos = positions.i32()[r];
      for (int j = 0; j < half; ++j) {
        const double angle = pos * inv_freq[static_cast<std::size_t>(j)];
        cs[static_cast<std::size_t>(j)] = static_cast<float>(std::cos(angle));
        sn[static_cast<std::size_t>(j)] = sign * static_cast<float>(std::sin(angle));
      }
      for (int h = 0; h < n_heads; ++h) {
        float* p = x.f32() + r * x.cols + static_cast<std::int64_t>(h) * head_dim;
        for (int j = 0; j < half; ++j) {
          const float x1 = p[j], x2 = p[j + half];
          p[j] = x1 * cs[static_cast<std::size_t>(j)] - x2 * sn[static_cast<std::size_t>(j)];
          p[j + half] = x2 * cs[static_cast<std::size_t>(j)] + x1 * sn[static_cast<std::size_t>(j)];
        }
      }
    }
  }
}

// ---- swiglu -----------------------------------------------------------------------------------------
void CpuBackend::swiglu_forward(TensorView gate_up, TensorView out) {
  PERSONAS_ASSERT(gate_up.cols == 2 * out.cols && gate_up.rows == out.rows, "swiglu: gate_up [{},{}] out [{},{}]",
                  gate_up.rows, gate_up.cols, out.rows, out.cols);
  const std::int64_t f = out.cols;
#pragma omp parallel for if (out.numel() > (1 << 15))
  for (std::int64_t r = 0; r < out.rows; ++r) {
    const float* g = gate_up.f32() + r * 2 * f;
    const float* u = g + f;
    float* o = out.f32() + r * f;
    for (std::int64_t j = 0; j < f; ++j) o[j] = g[j] / (1.0f + std::exp(-g[j])) * u[j];
  }
}

void CpuBackend::swiglu_backward(TensorView dout, TensorView gate_up, TensorView dgate_up) {
  check_same_shape(gate_up, dgate_up, "swiglu_backward");
  const std::int64_t f = dout.cols;
#pragma omp parallel for if (dout.numel() > (1 << 15))
  for (std::int64_t r = 0; r < dout.rows; ++r) {
    const float* g = gate_up.f32() + r * 2 * f;
    const float* u = g + f;
    const float* d = dout.f32() + r * f;
    float* dg = dgate_up.f32() + r * 2 * f;
    float* du = dg + f;
    for (std::int64_t j = 0; j < f; ++j) {
      const float sig = 1.0f / (1.0f + std::exp(-g[j]));
      const float silu = g[j] * sig;
      const float dgj = d[j] * u[j] * sig * (1.0f + g[j] * (1.0f - sig));
      du[j] = d[j] * silu;
      dg[j] = dgj;
    }
  }
}

// ---- cross-entropy ---------------------------------------------------------------------------------------
void CpuBackend::cross_entropy(TensorView logits, TensorView targets, TensorView loss, TensorView dlogits,
                               float grad_scale) {
  check_i32(targets, "cross_entropy.targets");
  PERSONAS_ASSERT(targets.numel() == logits.rows && loss.numel() == logits.rows, "cross_entropy: sizes");
  const std::int64_t v = logits.cols;
  const bool want_grad = dlogits.data != nullptr;
  for (std::int64_t r = 0; r < logits.rows; ++r)
    PERSONAS_ASSERT(targets.i32()[r] < v, "cross_entropy: target {} outside [0, {})", targets.i32()[r], v);
#pragma omp parallel for if (logits.rows * v > (1 << 16))
  for (std::int64_t r = 0; r < logits.rows; ++r) {
    const float* x = logits.f32() + r * v;
    const std::int32_t t = targets.i32()[r];
    float* dx = want_grad ? dlogits.f32() + r * v : nullptr;
    if (t < 0) {
      loss.f32()[r] = 0.0f;
      if (dx) std::memset(dx, 0, static_cast<std::size_t>(v) * 4);
      continue;
    }
    float mx = x[0];
    for (std::int64_t j = 1; j < v; ++j) mx = std::max(mx, x[j]);
    double sum = 0.0;
    for (std::int64_t j = 0; j < v; ++j) sum += std::exp(static_cast<double>(x[j] - mx));
    const double lse = mx + std::log(sum);
    const float xt = x[t];
    loss.f32()[r] = static_cast<float>(lse - xt);
    if (dx) {
      for (std::int64_t j = 0; j < v; ++j)
        dx[j] = static_cast<float>(std::exp(static_cast<double>(x[j]) - lse)) * grad_scale;
      dx[t] -= grad_scale;
    }
  }
}

// ---- LoRA -------------------------------------------------------------------------------------------------
namespace {
TensorView rows_of(TensorView t, std::int64_t begin, std::int64_t end) {
  TensorView s = t;
  s.data = t.f32() + begin * t.cols;
  s.rows = end - begin;
  return s;
}
}  // namespace

void CpuBackend::lora_shrink(TensorView x, std::span<const TensorView> a_weights,
                             std::span<const LoraSegment> segments, TensorView t) {
  for (const auto& s : segments) {
    PERSONAS_ASSERT(s.adapter >= 0 && static_cast<std::size_t>(s.adapter) < a_weights.size() &&
                        s.row_begin >= 0 && s.row_end <= x.rows && s.row_begin <= s.row_end,
                    "lora_shrink: bad segment [{}, {}) adapter {}", s.row_begin, s.row_end, s.adapter);
    if (s.row_end == s.row_begin) continue;
    matmul(rows_of(x, s.row_begin, s.row_end), false, a_weights[static_cast<std::size_t>(s.adapter)], true,
           rows_of(t, s.row_begin, s.row_end), 1.0f, 0.0f);
  }
}

void CpuBackend::lora_expand(TensorView t, std::span<const TensorView> b_weights,
                             std::span<const LoraSegment> segments, float scale, TensorView y) {
  for (const auto& s : segments) {
    PERSONAS_ASSERT(s.adapter >= 0 && static_cast<std::size_t>(s.adapter) < b_weights.size() &&
                        s.row_begin >= 0 && s.row_end <= y.rows && s.row_begin <= s.row_end,
                    "lora_expand: bad segment [{}, {}) adapter {}", s.row_begin, s.row_end, s.adapter);
    if (s.row_end == s.row_begin) continue;
    matmul(rows_of(t, s.row_begin, s.row_end), false, b_weights[static_cast<std::size_t>(s.adapter)], true,
           rows_of(y, s.row_begin, s.row_end), scale, 1.0f);
  }
}

void CpuBackend::lora_backward(TensorView dy, TensorView x, TensorView t, TensorView a, TensorView b, float scale,
                               TensorView da, TensorView db, TensorView dx) {
  // dB += scale * dy^T t ; dt = scale * dy B ; dA += dt^T x ; dx += dt A
  matmul(dy, true, t, false, db, scale, 1.0f);
  std::vector<float> dt_storage(static_cast<std::size_t>(dy.rows * a.rows));
  TensorView dt{dt_storage.data(), DType::f32, dy.rows, a.rows};
  matmul(dy, false, b, false, dt, scale, 0.0f);
  matmul(dt, true, x, false, da, 1.0f, 1.0f);
  if (dx.data != nullptr) matmul(dt, false, a, false, dx, 1.0f, 1.0f);
}

// ---- AdamW ------------------------------------------------------------------------------------------------
void CpuBackend::adamw(TensorView param, TensorView grad, TensorView m, TensorView v, const AdamWParams& p) {
  check_same_shape(param, grad, "adamw.grad");
  check_same_shape(param, m, "adamw.m");
  check_same_shape(param, v, "adamw.v");
  PERSONAS_ASSERT(p.step >= 1, "adamw: step {} must be >= 1", p.step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), static_cast<double>(p.step));
  const float step_size = static_cast<float>(p.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay = 1.0f - p.lr * p.weight_decay;
  float* w = param.f32();
  const float* g = grad.f32();
  float* pm = m.f32();
  float* pv = v.f32();
  const std::int64_t n = param.numel();
#pragma omp parallel for simd if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) {
    w[i] *= decay;
    pm[i] = p.beta1 * pm[i] + (1.0f - p.beta1) * g[i];
    pv[i] = p.beta2 * pv[i] + (1.0f - p.beta2) * g[i] * g[i];
    const float denom = std::sqrt(pv[i]) / bc2_sqrt + p.eps;
    w[i] -= step_size * pm[i] / denom;
  }
}

}  // namespace personas
