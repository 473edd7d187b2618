// CudaBackend: host-side checks (the same as CpuBackend's), launches of the
// kernels in cuda/*.cu, cuBLAS for the GEMMs. Every op is asynchronous on the
// backend's stream; copy_to_host and synchronize() wait for it.
#include "cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "adamw.cuh"
#include "attention.cuh"
#include "backend/caching_allocator.h"
#include "core/errors.h"
#include "cross_entropy.cuh"
#include "cuda_check.h"
#include "elementwise.cuh"
#include "embedding.cuh"
#include "kmeans.cuh"
#include "lora.cuh"
#include "matmul_rows.cuh"
#include "nccl_group.h"
#include "rmsnorm.cuh"
#include "rope.cuh"
#include "swiglu.cuh"

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

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_?";
  }
}

void check_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) throw DeviceError(std::string("cuBLAS ") + call, cublas_status_name(s), {}, file, line);
}
#define PERSONAS_CUBLAS_CHECK(call) check_cublas((call), #call, __FILE__, __LINE__)

}  // namespace

CudaBackend::CudaBackend(int device, CudaBackendOptions options) : device_(device), options_(options) {
  PERSONAS_CUDA_CHECK(cudaSetDevice(device_));
  make_pool();
  cudaDeviceProp prop{};
  PERSONAS_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  device_name_ = prop.name;
  PERSONAS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  cublasHandle_t handle = nullptr;
  PERSONAS_CUBLAS_CHECK(cublasCreate(&handle));
  cublas_ = handle;
  PERSONAS_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  PERSONAS_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&error_word_), sizeof(int)));
  PERSONAS_CUDA_CHECK(cudaMemsetAsync(error_word_, 0, sizeof(int), stream_));
  PERSONAS_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

CudaBackend::~CudaBackend() {
  // No throwing from a destructor: errors here are ignored (the context may be gone).
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  pool_.reset();  // frees the cached blocks and any still handed out (scratch included)
  if (error_word_) cudaFree(error_word_);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
  cudaGetLastError();
}

bool CudaBackend::supports(Op op, DType dtype) const {
  // bf16: matmul operands, and the gather from a frozen base table (model.device_dtype = bf16).
  if (op == Op::matmul) return dtype == DType::f32 || dtype == DType::bf16;
  if (op == Op::embedding) return dtype == DType::f32 || dtype == DType::i32 || dtype == DType::bf16;
  if (op == Op::cross_entropy || op == Op::kmeans_assign)
    return dtype == DType::f32 || dtype == DType::i32;
  return dtype == DType::f32;
}

void CudaBackend::activate() const { PERSONAS_CUDA_CHECK(cudaSetDevice(device_)); }

// ---- memory ------------------------------------------------------------------------
// Every allocation, scratch included, comes from the caching allocator: a
// cudaMalloc only when no cached block of the size class is free on our
// stream, and no cudaFree (which synchronises the device) until empty_cache,
// an out-of-memory retry or the destructor.
void CudaBackend::make_pool() {
  CachingAllocator::RawAlloc raw_alloc = [this](std::size_t bytes) -> void* {
    PERSONAS_CUDA_CHECK(cudaSetDevice(device_));
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, bytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // out of memory: the pool empties its cache and retries, then allocate() reports
      return nullptr;
    }
    PERSONAS_CUDA_CHECK(status);
    return p;
  };
  CachingAllocator::RawFree raw_free = [this](void* p, std::size_t) {
    cudaSetDevice(device_);
    cudaFree(p);  // never throws (also runs from the destructor); a fault here shows at the next checked call
  };
  pool_ = std::make_unique<CachingAllocator>(std::move(raw_alloc), std::move(raw_free), options_.allocator);
}

void* CudaBackend::pool_allocate(std::size_t bytes, const char* what) {
  void* p = pool_->allocate(bytes, reinterpret_cast<CachingAllocator::Stream>(stream_));
  if (p != nullptr) return p;
  std::size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  cudaGetLastError();
  const MemoryStats m = pool_->stats();
  throw DeviceError("CUDA cudaMalloc", "cudaErrorMemoryAllocation (out of memory)",
                    std::string(what) + " of " + std::to_string(bytes) + " bytes on GPU " + std::to_string(device_) +
                        ": " + std::to_string(free_bytes) + " of " + std::to_string(total_bytes) +
                        " bytes free; this backend holds " + std::to_string(m.current_bytes) + " bytes in use (peak " +
                        std::to_string(m.peak_bytes) + ")",
                    __FILE__, __LINE__,
                    "the GPU is out of memory: lower train.micro_batch or the sequence length, or use fewer ranks "
                    "per GPU");
}

void* CudaBackend::allocate(std::size_t bytes) {
  activate();
  return pool_allocate(bytes, "allocate");
}

void CudaBackend::release(void* pointer) { pool_->release(pointer); }

MemoryStats CudaBackend::memory_stats() const { return pool_->stats(); }

void CudaBackend::empty_cache() {
  activate();
  pool_->empty_cache();
}

void CudaBackend::reset_peak_memory() { pool_->reset_peak(); }

void* CudaBackend::scratch(Scratch slot, std::size_t bytes) {
  bytes = std::max<std::size_t>(bytes, 256);
  if (scratch_bytes_[slot] < bytes) {
    // Earlier work on the stream may still read the old block; the pool hands
    // it out again only to later work on the same stream, so this is safe.
    pool_->release(scratch_[slot]);
    scratch_[slot] = nullptr;
    scratch_bytes_[slot] = 0;
    scratch_[slot] = pool_allocate(bytes, "scratch");
    scratch_bytes_[slot] = bytes;
  }
  return scratch_[slot];
}

void CudaBackend::copy_to_device(void* dst, const void* host_src, std::size_t bytes) {
  if (bytes == 0) return;
  activate();
  PERSONAS_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  // The caller may reuse host_src at once (it may be pinned memory, copied lazily).
  PERSONAS_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_to_host(void* host_dst, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  activate();
  PERSONAS_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
  PERSONAS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  check_error_word();
}

void CudaBackend::copy_on_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes == 0 || dst == src) return;
  activate();
  PERSONAS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::fill_zero(TensorView t) {
  if (t.numel() <= 0) return;
  activate();
  PERSONAS_CUDA_CHECK(cudaMemsetAsync(t.data, 0, static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype), stream_));
}

void CudaBackend::synchronize() {
  activate();
  PERSONAS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  check_error_word();
}

void CudaBackend::check_error_word() {
  int word = 0;
  PERSONAS_CUDA_CHECK(cudaMemcpyAsync(&word, error_word_, sizeof(int), cudaMemcpyDeviceToHost, stream_));
  PERSONAS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (word == 0) return;
  PERSONAS_CUDA_CHECK(cudaMemsetAsync(error_word_, 0, sizeof(int), stream_));
  PERSONAS_CHECK((word & cuda::kErrorEmbeddingId) == 0, internal,
                 "embedding: a token id outside [0, vocab) reached the CUDA backend (rows were zeroed)");
  PERSONAS_CHECK((word & cuda::kErrorTarget) == 0, internal,
                 "cross_entropy: a target id outside [0, vocab) reached the CUDA backend (its loss was set to 0)");
}

// ---- elementwise --------------------------------------------------------------------------
void CudaBackend::add(TensorView y, TensorView x, float alpha) {
  check_f32(y, "add.y");
  check_f32(x, "add.x");
  check_same_shape(y, x, "add");
  activate();
  cuda::launch_add(y.f32(), x.f32(), alpha, y.numel(), stream_);
}

void CudaBackend::dropout(TensorView x, TensorView out, float p, std::uint64_t seed) {
  check_f32(x, "dropout.x");
  check_same_shape(x, out, "dropout");
  PERSONAS_ASSERT(p >= 0.0f && p < 1.0f, "dropout p {} outside [0, 1)", p);
  activate();
  cuda::launch_dropout(x.f32(), out.f32(), x.numel(), p, seed, stream_);
}

void CudaBackend::scale(TensorView x, float alpha) {
  check_f32(x, "scale.x");
  activate();
  cuda::launch_scale(x.f32(), alpha, x.numel(), stream_);
}

double CudaBackend::sum_squares(TensorView x) {
  check_f32(x, "sum_squares.x");
  activate();
  auto* partials = static_cast<double*>(scratch(kScratchReduce, (cuda::kSumSquaresPartials + 1) * sizeof(double)));
  cuda::launch_sum_squares(x.f32(), x.numel(), partials, partials + cuda::kSumSquaresPartials, stream_);
  double sum = 0.0;
  copy_to_host(&sum, partials + cuda::kSumSquaresPartials, sizeof(double));
  return sum;
}

// ---- group reduction (NCCL) ---------------------------------------------------------------------
namespace {

class NcclReducer final : public DeviceGroupReducer {
 public:
  NcclReducer(CudaBackend& backend, std::span<const std::uint8_t> id, int size, int rank)
      : backend_(backend),
        group_(std::span<const unsigned char>(id.data(), id.size()), size, rank, backend.device_index()) {}
  void allreduce_sum(TensorView data) override {
    PERSONAS_ASSERT(data.dtype == DType::f32, "allreduce_sum: expected f32, got {}", dtype_name(data.dtype));
    // On the backend's stream: after the backward that wrote the gradients, before AdamW.
    group_.allreduce_sum(data.f32(), static_cast<std::size_t>(data.numel()), backend_.stream());
  }

 private:
  CudaBackend& backend_;
  NcclGroup group_;
};

}  // namespace

bool CudaBackend::supports_group_reduce() const { return nccl_available(); }

std::vector<std::uint8_t> CudaBackend::group_reducer_id() {
  activate();
  const std::vector<unsigned char> id = nccl_unique_id();
  return {id.begin(), id.end()};
}

std::unique_ptr<DeviceGroupReducer> CudaBackend::make_group_reducer(std::span<const std::uint8_t> id, int group_size,
                                                                    int group_rank) {
  activate();
  return std::make_unique<NcclReducer>(*this, id, group_size, group_rank);
}

// ---- embedding ------------------------------------------------------------------------------
void CudaBackend::embedding_forward(TensorView ids, TensorView table, TensorView out) {
  check_i32(ids, "embedding.ids");
  check_f32(out, "embedding.out");
  PERSONAS_ASSERT(table.dtype == DType::f32 || table.dtype == DType::bf16, "embedding.table: expected f32 or bf16, got {}",
                  dtype_name(table.dtype));
  PERSONAS_ASSERT(out.rows == ids.numel() && out.cols == table.cols, "embedding: out [{},{}] for {} ids, width {}",
                  out.rows, out.cols, ids.numel(), table.cols);
  activate();
  if (table.dtype == DType::bf16)  // a frozen base table stored in bf16 (model.device_dtype)
    cuda::launch_embedding_forward_bf16(ids.i32(), ids.numel(), table.data, table.rows, table.cols, out.f32(),
                                        error_word_, stream_);
  else
    cuda::launch_embedding_forward(ids.i32(), ids.numel(), table.f32(), table.rows, table.cols, out.f32(),
                                   error_word_, stream_);
}

void CudaBackend::embedding_backward(TensorView dout, TensorView ids, TensorView dtable) {
  check_i32(ids, "embedding_backward.ids");
  PERSONAS_ASSERT(dout.rows == ids.numel() && dout.cols == dtable.cols, "embedding_backward: shapes");
  activate();
  cuda::launch_embedding_backward(dout.f32(), ids.i32(), ids.numel(), dtable.f32(), dtable.rows, dtable.cols,
                                  error_word_, stream_);
}

// ---- rmsnorm -----------------------------------------------------------------------------------
void CudaBackend::rmsnorm_forward(TensorView x, TensorView weight, float eps, TensorView out, TensorView rstd) {
  check_f32(x, "rmsnorm.x");
  check_same_shape(x, out, "rmsnorm");
  PERSONAS_ASSERT(weight.numel() == x.cols && rstd.numel() == x.rows, "rmsnorm: weight/rstd sizes");
  activate();
  cuda::launch_rmsnorm_forward(x.f32(), weight.f32(), eps, x.rows, x.cols, out.f32(), rstd.f32(), stream_);
}

void CudaBackend::rmsnorm_backward(TensorView dout, TensorView x, TensorView weight, TensorView rstd, TensorView dx,
                                   bool accumulate) {
  check_same_shape(dout, x, "rmsnorm_backward");
  check_same_shape(dx, x, "rmsnorm_backward.dx");
  activate();
  cuda::launch_rmsnorm_backward(dout.f32(), x.f32(), weight.f32(), rstd.f32(), x.rows, x.cols, dx.f32(), accumulate,
                                stream_);
}

// ---- matmul ---------------------------------------------------------------------------------------
// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, so cuBLAS
// gets B first: gemm(op_b, op_a, n, m, k, B, ldb, A, lda, C, ldc).
void CudaBackend::gemm(const void* a, bool a_bf16, std::int64_t lda, bool transpose_a, const void* b, bool b_bf16,
                       std::int64_t ldb, bool transpose_b, float* c, std::int64_t ldc, std::int64_t m,
                       std::int64_t n, std::int64_t k, float alpha, float beta) {
  PERSONAS_ASSERT(a_bf16 == b_bf16, "gemm: operand types differ");
  const cudaDataType_t type = a_bf16 ? CUDA_R_16BF : CUDA_R_32F;
  const cublasComputeType_t compute =
      (!a_bf16 && options_.bf16_gemm) ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F;
  PERSONAS_CUBLAS_CHECK(cublasGemmEx(cublas_, transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                                     static_cast<int>(k), &alpha, b, type, static_cast<int>(ldb), a, type,
                                     static_cast<int>(lda), &beta, c, CUDA_R_32F, static_cast<int>(ldc), compute,
                                     CUBLAS_GEMM_DEFAULT));
}

void CudaBackend::matmul(TensorView a, bool transpose_a, TensorView b, bool transpose_b, TensorView c, float alpha,
                         float beta) {
  check_f32(c, "matmul.c");
  PERSONAS_ASSERT(a.dtype != DType::i32 && b.dtype != DType::i32, "matmul: i32 operands");
  const std::int64_t m = transpose_a ? a.cols : a.rows;
  const std::int64_t k = transpose_a ? a.rows : a.cols;
  const std::int64_t kb = transpose_b ? b.cols : b.rows;
  const std::int64_t n = transpose_b ? b.rows : b.cols;
  PERSONAS_ASSERT(k == kb && c.rows == m && c.cols == n, "matmul: op(a) [{},{}] op(b) [{},{}] c [{},{}]", m, k, kb,
                  n, c.rows, c.cols);
  PERSONAS_ASSERT(m < (1ll << 31) && n < (1ll << 31) && k < (1ll << 31), "matmul: dimension above 2^31");
  if (m == 0 || n == 0) return;
  activate();
  if (k == 0) {
    if (beta == 0.0f) fill_zero(c);
    else if (beta != 1.0f) cuda::launch_scale(c.f32(), beta, c.numel(), stream_);
    return;
  }
  const void* pa = a.data;
  const void* pb = b.data;
  bool bf16 = a.dtype == DType::bf16 && b.dtype == DType::bf16;
  if (a.dtype != b.dtype) {  // mixed: bring the fp32 operand to bf16
    bf16 = true;
    if (a.dtype == DType::f32) {
      void* tmp = scratch(kScratchA, static_cast<std::size_t>(a.numel()) * 2);
      cuda::launch_f32_to_bf16(a.f32(), tmp, a.numel(), stream_);
      pa = tmp;
    } else {
      void* tmp = scratch(kScratchB, static_cast<std::size_t>(b.numel()) * 2);
      cuda::launch_f32_to_bf16(b.f32(), tmp, b.numel(), stream_);
      pb = tmp;
    }
  }
  gemm(pa, bf16, a.cols, transpose_a, pb, bf16, b.cols, transpose_b, c.f32(), c.cols, m, n, k, alpha, beta);
}

// ---- rope ------------------------------------------------------------------------------------------
void CudaBackend::rope(TensorView x, TensorView positions, int n_heads, int head_dim, int rotary_dim, float theta,
                       bool inverse) {
  check_f32(x, "rope.x");
  check_i32(positions, "rope.positions");
  PERSONAS_ASSERT(x.cols == static_cast<std::int64_t>(n_heads) * head_dim && positions.numel() == x.rows,
                  "rope: x [{},{}] for {} heads of {}, {} positions", x.rows, x.cols, n_heads, head_dim,
                  positions.numel());
  PERSONAS_ASSERT(rotary_dim % 2 == 0 && rotary_dim <= head_dim, "rope: rotary_dim {}", rotary_dim);
  activate();
  cuda::launch_rope(x.f32(), positions.i32(), x.rows, n_heads, head_dim, rotary_dim, theta, inverse, stream_);
}

// ---- attention -----------------------------------------------------------------------------------------
namespace {

cuda::AttentionDims dims_of(const AttentionShape& s) {
  PERSONAS_ASSERT(s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0, "attention: {} heads not a multiple of {} kv heads",
                  s.n_heads, s.n_kv_heads);
  PERSONAS_ASSERT(s.head_dim >= 1 && s.head_dim <= cuda::kAttentionMaxHeadDim,
                  "attention: head_dim {} outside [1, {}] (the CUDA kernels' register tile)", s.head_dim,
                  cuda::kAttentionMaxHeadDim);
  PERSONAS_ASSERT(s.sliding_window >= 0, "attention: sliding_window {}", s.sliding_window);
  cuda::AttentionDims d;
  d.batch = s.batch;
  d.seq = s.seq;
  d.n_heads = s.n_heads;
  d.n_kv_heads = s.n_kv_heads;
  d.head_dim = s.head_dim;
  d.sliding_window = s.sliding_window;
  return d;
}

void check_attention(const TensorView& q, const TensorView& k, const TensorView& v, const AttentionShape& s) {
  check_f32(q, "attention.q");
  check_f32(k, "attention.k");
  check_f32(v, "attention.v");
  const std::int64_t n = static_cast<std::int64_t>(s.batch) * s.seq;
  PERSONAS_ASSERT(q.rows == n && q.cols == static_cast<std::int64_t>(s.n_heads) * s.head_dim,
                  "attention: q [{},{}] for batch {} seq {} heads {} dim {}", q.rows, q.cols, s.batch, s.seq,
                  s.n_heads, s.head_dim);
  PERSONAS_ASSERT(k.rows == n && v.rows == n && k.cols == static_cast<std::int64_t>(s.n_kv_heads) * s.head_dim &&
                      v.cols == k.cols,
                  "attention: k/v [{},{}] for {} kv heads", k.rows, k.cols, s.n_kv_heads);
}

}  // namespace

void CudaBackend::attention_forward(TensorView q, TensorView k, TensorView v, TensorView lengths,
                                    const AttentionShape& s, TensorView out, TensorView lse) {
  check_attention(q, k, v, s);
  check_i32(lengths, "attention.lengths");
  PERSONAS_ASSERT(lengths.numel() == s.batch && out.rows == q.rows && out.cols == q.cols &&
                      lse.numel() == q.rows * s.n_heads,
                  "attention: lengths/out/lse sizes");
  const cuda::AttentionDims d = dims_of(s);
  activate();
  cuda::launch_attention_forward(q.f32(), k.f32(), v.f32(), lengths.i32(), d, out.f32(), lse.f32(), stream_);
}

void CudaBackend::attention_backward(TensorView dout, TensorView q, TensorView k, TensorView v, TensorView out,
                                     TensorView lse, TensorView lengths, const AttentionShape& s, TensorView dq,
                                     TensorView dk, TensorView dv) {
  check_attention(q, k, v, s);
  check_same_shape(dout, q, "attention_backward.dout");
  check_same_shape(dq, q, "attention_backward.dq");
  check_same_shape(dk, k, "attention_backward.dk");
  check_same_shape(dv, v, "attention_backward.dv");
  const cuda::AttentionDims d = dims_of(s);
  activate();
  auto* dsum = static_cast<float*>(scratch(kScratchAttention, static_cast<std::size_t>(q.rows) * s.n_heads * 4));
  cuda::launch_attention_backward(dout.f32(), q.f32(), k.f32(), v.f32(), out.f32(), lse.f32(), lengths.i32(), d,
                                  dq.f32(), dk.f32(), dv.f32(), dsum, stream_);
}

void CudaBackend::attention_decode(TensorView q, TensorView k_cache, TensorView v_cache, int past,
                                   const AttentionShape& s, TensorView out) {
  PERSONAS_ASSERT(s.batch == 1 && q.rows == s.seq && past >= 0 && past + s.seq <= k_cache.rows,
                  "attention_decode: q rows {} seq {} past {} capacity {}", q.rows, s.seq, past, k_cache.rows);
  PERSONAS_ASSERT(k_cache.cols == static_cast<std::int64_t>(s.n_kv_heads) * s.head_dim &&
                      v_cache.cols == k_cache.cols && q.cols == static_cast<std::int64_t>(s.n_heads) * s.head_dim,
                  "attention_decode: q [{},{}] cache [{},{}]", q.rows, q.cols, k_cache.rows, k_cache.cols);
  check_same_shape(out, q, "attention_decode.out");
  const cuda::AttentionDims d = dims_of(s);
  activate();
  cuda::launch_attention_decode(q.f32(), k_cache.f32(), v_cache.f32(), k_cache.cols, past, d, out.f32(), stream_);
}

// One launch per row, each exactly the attention_decode of that row alone
// (a kernel over rows with their own caches would need device pointer tables).
void CudaBackend::attention_decode_rows(TensorView q, std::span<const TensorView> k_caches,
                                        std::span<const TensorView> v_caches, std::span<const std::int32_t> pasts,
                                        const AttentionShape& s, TensorView out) {
  PERSONAS_ASSERT(static_cast<std::int64_t>(k_caches.size()) == q.rows &&
                      static_cast<std::int64_t>(v_caches.size()) == q.rows &&
                      static_cast<std::int64_t>(pasts.size()) == q.rows,
                  "attention_decode_rows: {} rows but {} k caches, {} v caches, {} pasts", q.rows, k_caches.size(),
                  v_caches.size(), pasts.size());
  check_same_shape(out, q, "attention_decode_rows.out");
  AttentionShape one = s;
  one.batch = 1;
  one.seq = 1;
  for (std::int64_t r = 0; r < q.rows; ++r) {
    const auto i = static_cast<std::size_t>(r);
    TensorView qr = q, outr = out;
    qr.data = q.f32() + r * q.cols;
    outr.data = out.f32() + r * out.cols;
    qr.rows = outr.rows = 1;
    attention_decode(qr, k_caches[i], v_caches[i], pasts[i], one, outr);
  }
}

// Each row's keys are the prefix's then its own: concatenated per row in pool
// memory (released in stream order), then the flash kernel with the rows at
// positions n_prefix + t.
void CudaBackend::attention_prefix_forward(TensorView q, TensorView k_prefix, TensorView v_prefix, TensorView k,
                                           TensorView v, TensorView lengths, const AttentionShape& s, TensorView out) {
  check_attention(q, k, v, s);
  check_i32(lengths, "attention_prefix.lengths");
  check_f32(k_prefix, "attention_prefix.k_prefix");
  check_f32(v_prefix, "attention_prefix.v_prefix");
  PERSONAS_ASSERT(k_prefix.cols == k.cols && v_prefix.cols == k.cols && v_prefix.rows == k_prefix.rows &&
                      lengths.numel() == s.batch && out.rows == q.rows && out.cols == q.cols,
                  "attention_prefix_forward: prefix [{},{}] / [{},{}], kv width {}, lengths {}, out [{},{}]",
                  k_prefix.rows, k_prefix.cols, v_prefix.rows, v_prefix.cols, k.cols, lengths.numel(), out.rows,
                  out.cols);
  const cuda::AttentionDims d = dims_of(s);
  activate();
  const std::int64_t n_prefix = k_prefix.rows, rows = n_prefix + s.seq;
  const std::size_t row_bytes = static_cast<std::size_t>(k.cols) * 4;
  const std::size_t bytes = static_cast<std::size_t>(s.batch) * static_cast<std::size_t>(rows) * row_bytes;
  char* kc = static_cast<char*>(allocate(bytes));
  char* vc = static_cast<char*>(allocate(bytes));
  const std::size_t pitch = static_cast<std::size_t>(rows) * row_bytes;
  for (const auto& [dst, pre, own] : {std::tuple{kc, k_prefix.data, k.data}, std::tuple{vc, v_prefix.data, v.data}}) {
    for (int b = 0; b < s.batch && n_prefix > 0; ++b)
      PERSONAS_CUDA_CHECK(cudaMemcpyAsync(dst + static_cast<std::size_t>(b) * pitch, pre,
                                          static_cast<std::size_t>(n_prefix) * row_bytes, cudaMemcpyDeviceToDevice,
                                          stream_));
    const std::size_t own_bytes = static_cast<std::size_t>(s.seq) * row_bytes;
    PERSONAS_CUDA_CHECK(cudaMemcpy2DAsync(dst + static_cast<std::size_t>(n_prefix) * row_bytes, pitch, own, own_bytes,
                                          own_bytes, static_cast<std::size_t>(s.batch), cudaMemcpyDeviceToDevice,
                                          stream_));
  }
  cuda::launch_attention_prefix(q.f32(), reinterpret_cast<const float*>(kc), reinterpret_cast<const float*>(vc),
                                lengths.i32(), d, static_cast<int>(n_prefix), out.f32(), stream_);
  release(kc);
  release(vc);
}

void CudaBackend::matmul_batch_invariant(TensorView x, TensorView w, TensorView y, float alpha, float beta) {
  check_f32(x, "matmul_batch_invariant.x");
  check_f32(y, "matmul_batch_invariant.y");
  PERSONAS_ASSERT(w.dtype == DType::f32 || w.dtype == DType::bf16, "matmul_batch_invariant: w is {}",
                  dtype_name(w.dtype));
  PERSONAS_ASSERT(x.cols == w.cols && y.rows == x.rows && y.cols == w.rows,
                  "matmul_batch_invariant: x [{},{}] w [{},{}] y [{},{}]", x.rows, x.cols, w.rows, w.cols, y.rows,
                  y.cols);
  activate();
  if (w.dtype == DType::bf16)
    cuda::launch_matmul_rows_bf16(x.f32(), w.data, y.f32(), x.rows, w.rows, x.cols, alpha, beta, stream_);
  else
    cuda::launch_matmul_rows(x.f32(), w.f32(), y.f32(), x.rows, w.rows, x.cols, alpha, beta, stream_);
}

// ---- swiglu -----------------------------------------------------------------------------------------------
void CudaBackend::swiglu_forward(TensorView gate_up, TensorView out) {
  PERSONAS_ASSERT(gate_up.cols == 2 * out.cols && gate_up.rows == out.rows, "swiglu: gate_up [{},{}] out [{},{}]",
                  gate_up.rows, gate_up.cols, out.rows, out.cols);
  activate();
  cuda::launch_swiglu_forward(gate_up.f32(), out.rows, out.cols, out.f32(), stream_);
}

void CudaBackend::swiglu_backward(TensorView dout, TensorView gate_up, TensorView dgate_up) {
  check_same_shape(gate_up, dgate_up, "swiglu_backward");
  PERSONAS_ASSERT(gate_up.cols == 2 * dout.cols && gate_up.rows == dout.rows, "swiglu_backward: shapes");
  activate();
  cuda::launch_swiglu_backward(dout.f32(), gate_up.f32(), dout.rows, dout.cols, dgate_up.f32(), stream_);
}

// ---- cross-entropy --------------------------------------------------------------------------------------------
void CudaBackend::cross_entropy(TensorView logits, TensorView targets, TensorView loss, TensorView dlogits,
                                float grad_scale) {
  check_i32(targets, "cross_entropy.targets");
  check_f32(logits, "cross_entropy.logits");
  PERSONAS_ASSERT(targets.numel() == logits.rows && loss.numel() == logits.rows, "cross_entropy: sizes");
  if (dlogits.data) check_same_shape(dlogits, logits, "cross_entropy.dlogits");
  activate();
  cuda::launch_cross_entropy(logits.f32(), targets.i32(), logits.rows, logits.cols, loss.f32(),
                             dlogits.data ? dlogits.f32() : nullptr, grad_scale, error_word_, stream_);
}

// ---- LoRA ----------------------------------------------------------------------------------------------------------
namespace {

struct SegmentTable {
  std::vector<cuda::LoraSegmentDevice> rows;
  std::int64_t max_rows = 0;
};

// Validates like CpuBackend and keeps the non-empty segments; every adapter
// matrix must have the shape `rows x cols`.
SegmentTable segment_table(std::span<const TensorView> weights, std::span<const LoraSegment> segments,
                           std::int64_t n_rows, std::int64_t rows, std::int64_t cols, const char* what) {
  SegmentTable table;
  for (const auto& s : segments) {
    PERSONAS_ASSERT(s.adapter >= 0 && static_cast<std::size_t>(s.adapter) < weights.size() && s.row_begin >= 0 &&
                        s.row_end <= n_rows && s.row_begin <= s.row_end,
                    "{}: bad segment [{}, {}) adapter {}", what, s.row_begin, s.row_end, s.adapter);
    if (s.row_end == s.row_begin) continue;
    const TensorView& w = weights[static_cast<std::size_t>(s.adapter)];
    check_f32(w, what);
    PERSONAS_ASSERT(w.rows == rows && w.cols == cols, "{}: adapter {} is [{},{}], expected [{},{}]", what, s.adapter,
                    w.rows, w.cols, rows, cols);
    table.rows.push_back({s.row_begin, s.row_end, w.f32()});
    table.max_rows = std::max(table.max_rows, s.row_end - s.row_begin);
  }
  return table;
}

}  // namespace

void CudaBackend::lora_shrink(TensorView x, std::span<const TensorView> a_weights,
                              std::span<const LoraSegment> segments, TensorView t) {
  check_f32(x, "lora_shrink.x");
  check_f32(t, "lora_shrink.t");
  PERSONAS_ASSERT(t.rows == x.rows, "lora_shrink: t rows {} x rows {}", t.rows, x.rows);
  const SegmentTable table = segment_table(a_weights, segments, x.rows, t.cols, x.cols, "lora_shrink");
  if (table.rows.empty()) return;
  activate();
  const std::size_t bytes = table.rows.size() * sizeof(cuda::LoraSegmentDevice);
  void* dev = scratch(kScratchSegments, bytes);
  // Pageable source: cudaMemcpyAsync stages it before returning, so the vector may die.
  PERSONAS_CUDA_CHECK(cudaMemcpyAsync(dev, table.rows.data(), bytes, cudaMemcpyHostToDevice, stream_));
  cuda::launch_lora_shrink(x.f32(), x.cols, static_cast<const cuda::LoraSegmentDevice*>(dev),
                           static_cast<int>(table.rows.size()), table.max_rows, static_cast<int>(t.cols), t.f32(),
                           stream_);
}

void CudaBackend::lora_expand(TensorView t, std::span<const TensorView> b_weights,
                              std::span<const LoraSegment> segments, float scale, TensorView y) {
  check_f32(t, "lora_expand.t");
  check_f32(y, "lora_expand.y");
  PERSONAS_ASSERT(t.rows == y.rows, "lora_expand: t rows {} y rows {}", t.rows, y.rows);
  const SegmentTable table = segment_table(b_weights, segments, y.rows, y.cols, t.cols, "lora_expand");
  if (table.rows.empty()) return;
  activate();
  const std::size_t bytes = table.rows.size() * sizeof(cuda::LoraSegmentDevice);
  void* dev = scratch(kScratchSegments, bytes);
  PERSONAS_CUDA_CHECK(cudaMemcpyAsync(dev, table.rows.data(), bytes, cudaMemcpyHostToDevice, stream_));
  cuda::launch_lora_expand(t.f32(), static_cast<int>(t.cols), static_cast<const cuda::LoraSegmentDevice*>(dev),
                           static_cast<int>(table.rows.size()), table.max_rows, y.cols, scale, y.f32(), stream_);
}

void CudaBackend::lora_backward(TensorView dy, TensorView x, TensorView t, TensorView a, TensorView b, float scale,
                                TensorView da, TensorView db, TensorView dx) {
  const std::int64_t n = dy.rows, out = dy.cols, in = x.cols, rank = a.rows;
  PERSONAS_ASSERT(x.rows == n && t.rows == n && t.cols == rank && a.cols == in && b.rows == out && b.cols == rank,
                  "lora_backward: dy [{},{}] x [{},{}] t [{},{}] A [{},{}] B [{},{}]", dy.rows, dy.cols, x.rows, x.cols,
                  t.rows, t.cols, a.rows, a.cols, b.rows, b.cols);
  check_same_shape(da, a, "lora_backward.da");
  check_same_shape(db, b, "lora_backward.db");
  if (dx.data) check_same_shape(dx, x, "lora_backward.dx");
  activate();
  auto* dt = static_cast<float*>(scratch(kScratchLoraDt, static_cast<std::size_t>(n * rank) * 4));
  cuda::launch_lora_backward(dy.f32(), x.f32(), t.f32(), a.f32(), b.f32(), n, in, out, static_cast<int>(rank), scale,
                             da.f32(), db.f32(), dx.data ? dx.f32() : nullptr, dt, stream_);
}

// ---- AdamW -----------------------------------------------------------------------------------------------------------
void CudaBackend::adamw(TensorView param, TensorView grad, TensorView m, TensorView v, const AdamWParams& p) {
  check_same_shape(param, grad, "adamw.grad");
  check_same_shape(param, m, "adamw.m");
  check_same_shape(param, v, "adamw.v");
  PERSONAS_ASSERT(p.step >= 1, "adamw: step {} must be >= 1", p.step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), static_cast<double>(p.step));
  activate();
  cuda::launch_adamw(param.f32(), grad.f32(), m.f32(), v.f32(), param.numel(), p.beta1, p.beta2, p.eps,
                     1.0f - p.lr * p.weight_decay, static_cast<float>(p.lr / bc1),
                     static_cast<float>(std::sqrt(bc2)), stream_);
}

// ---- k-means ----------------------------------------------------------------------------------------------------------
void CudaBackend::kmeans_assign(TensorView points, TensorView centroids, TensorView labels, TensorView distances) {
  check_f32(points, "kmeans_assign.points");
  check_f32(centroids, "kmeans_assign.centroids");
  check_i32(labels, "kmeans_assign.labels");
  PERSONAS_ASSERT(points.cols == centroids.cols && labels.numel() == points.rows && distances.numel() == points.rows,
                  "kmeans_assign: points [{},{}] centroids [{},{}] labels {} distances {}", points.rows, points.cols,
                  centroids.rows, centroids.cols, labels.numel(), distances.numel());
  activate();
  cuda::launch_kmeans_assign(points.f32(), points.rows, centroids.f32(), centroids.rows, points.cols, labels.i32(),
                             distances.f32(), stream_);
}

}  // namespace personas
