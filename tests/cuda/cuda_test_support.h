// Helpers for the CUDA-vs-CPU tests: a GPU backend or a skip with the reason,
// host/device twins of tensors, and a comparison that reports the worst element.
#pragma once

#ifdef PERSONAS_HAVE_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "cuda_backend.h"
#include "cuda_backend_factory.h"

namespace personas::cuda_test {

// A CudaBackend on GPU 0, or nullptr and `reason` (the caller GTEST_SKIP()s).
inline std::unique_ptr<CudaBackend> gpu_or_reason(std::string& reason, bool bf16_gemm = false) {
  if (cuda_device_count(reason) == 0) return nullptr;
  CudaBackendOptions options;
  options.bf16_gemm = bf16_gemm;
  return std::make_unique<CudaBackend>(0, options);
}

// PERSONAS_REQUIRE_GPU(gpu, bf16_gemm): declares `gpu` or skips the test with the reason.
#define PERSONAS_REQUIRE_GPU(var, bf16_gemm)                                        \
  std::string var##_reason;                                                         \
  auto var = ::personas::cuda_test::gpu_or_reason(var##_reason, bf16_gemm);         \
  if (!var) GTEST_SKIP() << "no usable GPU, CUDA test skipped: " << var##_reason

// fp32 -> bf16 -> fp32 with round to nearest even (what the GPU stores).
inline float round_to_bf16(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  u &= 0xFFFF0000u;
  float y;
  std::memcpy(&y, &u, 4);
  return y;
}
inline std::uint16_t to_bf16_bits(float x) {
  const float r = round_to_bf16(x);
  std::uint32_t u;
  std::memcpy(&u, &r, 4);
  return static_cast<std::uint16_t>(u >> 16);
}

// A tensor held twice: host values (the CPU backend works on them in place)
// and a device copy on the GPU backend.
class Twin {
 public:
  Twin(CudaBackend& gpu, std::int64_t rows, std::int64_t cols, DType dtype = DType::f32)
      : gpu_(&gpu), rows_(rows), cols_(cols), dtype_(dtype), host_(static_cast<std::size_t>(rows * cols)) {
    device_ = gpu.allocate(bytes());
    upload();
  }
  ~Twin() { gpu_->release(device_); }
  Twin(const Twin&) = delete;
  Twin& operator=(const Twin&) = delete;

  std::size_t bytes() const { return static_cast<std::size_t>(rows_ * cols_) * dtype_size(dtype_); }
  std::int64_t size() const { return rows_ * cols_; }
  // f32 values (or i32 values through i32()) of the host copy.
  float* f32() { return reinterpret_cast<float*>(host_.data()); }
  std::int32_t* i32() { return reinterpret_cast<std::int32_t*>(host_.data()); }
  TensorView cpu() { return {host_.data(), dtype_, rows_, cols_}; }
  TensorView gpu() { return {device_, dtype_, rows_, cols_}; }
  void upload() { gpu_->copy_to_device(device_, host_.data(), bytes()); }
  std::vector<float> download() {
    std::vector<float> out(static_cast<std::size_t>(size()));
    gpu_->copy_to_host(out.data(), device_, bytes());
    return out;
  }
  std::vector<std::int32_t> download_i32() {
    std::vector<std::int32_t> out(static_cast<std::size_t>(size()));
    gpu_->copy_to_host(out.data(), device_, bytes());
    return out;
  }
  std::vector<float> host_f32() { return {f32(), f32() + size()}; }
  void fill_uniform(std::mt19937_64& rng, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> d(lo, hi);
    for (std::int64_t i = 0; i < size(); ++i) f32()[i] = d(rng);
    upload();
  }

 private:
  CudaBackend* gpu_;
  std::int64_t rows_, cols_;
  DType dtype_;
  std::vector<std::uint32_t> host_;  // 4-byte slots (f32 / i32); bf16 twins are not used
  void* device_ = nullptr;
};

// |gpu - cpu| <= atol + rtol * |cpu| everywhere; reports the count and the worst element.
inline ::testing::AssertionResult all_close(const std::vector<float>& gpu, const std::vector<float>& cpu, double atol,
                                            double rtol) {
  if (gpu.size() != cpu.size())
    return ::testing::AssertionFailure() << "sizes differ: " << gpu.size() << " vs " << cpu.size();
  std::size_t bad = 0, worst = 0;
  double worst_excess = 0.0;
  for (std::size_t i = 0; i < gpu.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(gpu[i]) - cpu[i]);
    const double allowed = atol + rtol * std::fabs(static_cast<double>(cpu[i]));
    const bool nan_mismatch = std::isnan(gpu[i]) != std::isnan(cpu[i]);
    if (nan_mismatch || diff > allowed) {
      ++bad;
      const double excess = nan_mismatch ? 1e30 : diff - allowed;
      if (bad == 1 || excess > worst_excess) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << gpu.size() << " elements differ (atol " << atol << ", rtol "
                                       << rtol << "); worst at " << worst << ": gpu " << gpu[worst] << " cpu "
                                       << cpu[worst];
}

// The odd sizes every op is tried on.
inline const std::vector<std::int64_t>& odd_sizes() {
  static const std::vector<std::int64_t> sizes{1, 3, 7, 133};
  return sizes;
}

}  // namespace personas::cuda_test

#endif  // PERSONAS_HAVE_CUDA
