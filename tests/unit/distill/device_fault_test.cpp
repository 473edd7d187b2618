// A device fault during local distillation (a CUDA out-of-memory in the
// engine's generation) stops the stage with the internal error (exit code 1)
// instead of being recorded as "this user failed". No GPU needed: a fake
// "cuda" backend factory hands the stage a CPU backend that throws the
// DeviceError CudaBackend would, from a forward pass of the first chat.
#include <gtest/gtest.h>

#include "comm/comm.h"
#include "core/errors.h"
#include "distill/distill_stage.h"
#include "distill/memory_records.h"
#include "io/jsonl.h"
#include "support/test_support.h"
#include "fault_backend.h"
#include "tiny_dataset.h"
#include "tiny_local_model.h"

namespace personas {
namespace {

std::atomic<int> g_factory_calls{0};

std::unique_ptr<Backend> faulty_factory(int, std::string&) {
  ++g_factory_calls;
  // The tiny model (2 layers) makes 5 norms per forward: the 8th is in the first chat's first decode step.
  return std::make_unique<testing::FaultBackend>(/*fault_at_call=*/8);
}

// Registers the fake factory for the test's lifetime (the unit binary has no real one).
struct FakeCudaFactory {
  FakeCudaFactory() { register_cuda_backend_factory(&faulty_factory); }
  ~FakeCudaFactory() { register_cuda_backend_factory(nullptr); }
};

TEST(DistillDeviceFault, StopsTheStageAndNoUserIsMarkedFailed) {
  testing::TempDir tmp;
  testing::write_tiny_local_checkpoint(tmp / "tiny.h5");
  const auto data = testing::tiny_dataset(3);
  RunDir run(tmp / "run");
  auto comm = make_local_comm();
  DistillConfig config;
  config.provider = Provider::local;
  config.prompts = (testing::source_dir() / "configs/prompts/distill-v1").string();
  config.batch_size = 5;
  config.local_note_tokens = 6;
  config.local_profile_tokens = 8;
  config.users_per_chunk = 1;
  DistillRunOptions options;
  options.local_checkpoint = (tmp / "tiny.h5").string();
  options.local_max_seq = 256;
  options.backend = BackendKind::cuda;

  const FakeCudaFactory fake;
  g_factory_calls = 0;
  try {
    run_distill(run, data, config, options, *comm);
    FAIL() << "the device fault did not stop the stage";
  } catch (const DeviceError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal);
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_EQ(e.call(), "CUDA cudaMalloc");
    EXPECT_NE(e.message().find("cudaErrorMemoryAllocation"), std::string::npos) << e.message();
    EXPECT_NE(e.origin().find("fault_backend.h:"), std::string::npos) << e.origin();
  }
  EXPECT_EQ(g_factory_calls, 1) << "the stage got its backend from the (fake) CUDA factory";

  // Nothing records a user as failed, and the stage is not done.
  EXPECT_FALSE(run.done_marker("distill").has_value());
  std::int64_t records = 0;
  for (const auto& entry : fs::recursive_directory_iterator(run.stage_dir("distill"))) {
    if (!entry.is_regular_file() || entry.path().extension() != ".jsonl") continue;
    EXPECT_EQ(entry.path().filename().string().rfind("failed", 0), std::string::npos) << entry.path();
    read_jsonl(entry.path(), [&](const nlohmann::json& j, std::size_t line) {
      const MemoryRecord r = record_from_json(j, entry.path().string() + ":" + std::to_string(line));
      EXPECT_FALSE(r.failed) << "user " << r.memory.user_id << " recorded as failed: " << r.reason;
      ++records;
    });
  }
  EXPECT_EQ(records, 0) << "the fault came in the first user's first chat";
}

}  // namespace
}  // namespace personas
