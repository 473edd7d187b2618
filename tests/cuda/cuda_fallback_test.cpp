// make_backend() with the CUDA factory registered: on a machine without a GPU
// "auto" falls back to the CPU (the reason is logged) and "cuda" is a usage
// error naming the reason; with a GPU both give the CUDA backend. Runs (and
// passes) on every machine, GPU or not.
#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "backend/backend.h"
#include "core/errors.h"

#ifdef PERSONAS_HAVE_CUDA
#include "cuda_backend_factory.h"
#endif

namespace personas {
namespace {

#ifdef PERSONAS_HAVE_CUDA

TEST(CudaFallback, AutoPicksGpuOrFallsBackWithReason) {
  register_cuda_backend();
  std::string reason;
  const int count = cuda_device_count(reason);
  auto backend = make_backend(BackendKind::automatic, 3);  // device index = local rank; wraps modulo the visible devices
  ASSERT_TRUE(backend);
  if (count == 0) {
    EXPECT_FALSE(reason.empty());
    EXPECT_EQ(backend->name(), "cpu") << "no GPU (" << reason << ") but auto did not fall back";
    EXPECT_EQ(backend->device(), DeviceKind::cpu);
    std::cout << "[fallback] no GPU here: " << reason << "\n";
  } else {
    EXPECT_EQ(backend->name(), "cuda");
    EXPECT_EQ(backend->device(), DeviceKind::cuda);
  }
}

TEST(CudaFallback, ExplicitCudaWithoutGpuIsAConfigError) {
  register_cuda_backend();
  std::string reason;
  if (cuda_device_count(reason) > 0) GTEST_SKIP() << "a GPU is visible; the no-GPU error path cannot be shown here";
  try {
    make_backend(BackendKind::cuda, 0);
    FAIL() << "make_backend(\"cuda\") succeeded without a GPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_NE(std::string(e.message()).find("run.backend"), std::string::npos) << e.message();
    EXPECT_NE(std::string(e.message()).find(reason), std::string::npos) << e.message();
  }
}

TEST(CudaFallback, MakeCudaBackendGivesBackendOrReason) {
  std::string reason;
  auto backend = make_cuda_backend(0, reason);
  if (backend) {
    EXPECT_EQ(backend->name(), "cuda");
  } else {
    EXPECT_FALSE(reason.empty());
  }
}

#else

TEST(CudaFallback, BuiltWithoutCuda) {
  GTEST_SKIP() << "this build has no CUDA backend (PERSONAS_CUDA=OFF or no nvcc)";
}

#endif

}  // namespace
}  // namespace personas
