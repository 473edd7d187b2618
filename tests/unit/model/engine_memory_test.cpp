// The engine loader keeps one copy of the base (issue 19): after load_engine
// the host holds no copy of the weights, and the backend's pool holds exactly
// the planned base plus the adapters' arenas.
#include <gtest/gtest.h>
#include <malloc.h>

#include <functional>
#include <iostream>

#include "core/errors.h"
#include "distill/local_chat_client.h"
#include "embed/model_embedder.h"
#include "model/base_dtype.h"
#include "model/checkpoint.h"
#include "model/engine.h"
#include "model/init_model.h"
#include "support/test_support.h"
#include "unit/distill/tiny_local_model.h"

namespace personas {
namespace {

// Bytes the C heap has handed out now (arenas plus mmapped blocks).
std::size_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

TEST(EngineMemory, HostCopyIsFreedAndThePoolHoldsThePlannedBase) {
  testing::TempDir tmp;
  testing::write_tiny_local_checkpoint(tmp.path() / "tok.h5");
  const TokenizerData tok = load_checkpoint_tokenizer(tmp.path() / "tok.h5");
  // Large enough (27 MiB in f32) that a second copy stands out of the heap's noise.
  Phi3Config c = load_checkpoint_config(tmp.path() / "tok.h5");
  c.vocab_size = 8192;
  c.hidden_size = 256;
  c.intermediate_size = 688;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  save_checkpoint(tmp.path() / "m.h5", random_weights(c, 3), tok, StorageDType::f32);
  std::size_t weight_bytes = 0;
  for (const auto& t : plan_base_upload(c, DType::f32)) weight_bytes += t.bytes();
  ASSERT_GT(weight_bytes, 20u << 20);

  const std::size_t before = heap_in_use();
  EngineOptions o;
  o.backend = BackendKind::cpu;
  o.n_adapters = 1;
  o.what = "test";
  Engine e = load_engine(tmp.path() / "m.h5", o);
  const std::size_t after = heap_in_use();

  EXPECT_EQ(e.model->base_dtype(), DType::f32);  // auto on the CPU
  EXPECT_EQ(e.model->base_bytes(), weight_bytes);
  const MemoryStats pool = e.backend->memory_stats();
  const auto arena = static_cast<std::size_t>(e.model->adapter(0).n_params()) * 4 * sizeof(float);
  EXPECT_EQ(pool.requested_bytes, weight_bytes + arena);
  // On the CPU backend the "device" copy is host memory too: what the load
  // left on the heap is that pool, not a second copy of the weights.
  ASSERT_GE(after, before);
  EXPECT_LT(after - before, pool.reserved_bytes + weight_bytes / 4)
      << "heap grew by " << (after - before) << " bytes for a pool of " << pool.reserved_bytes
      << " and weights of " << weight_bytes;
  EXPECT_GE(after - before, pool.reserved_bytes / 2);  // the measurement sees the pool at all
  std::cout << "[engine memory] heap +" << (after - before) << " B, pool reserved " << pool.reserved_bytes
            << " B, weights " << weight_bytes << " B\n";
}

TEST(EngineMemory, Bf16OnTheCpuIsAConfigError) {
  testing::TempDir tmp;
  testing::write_tiny_local_checkpoint(tmp.path() / "m.h5");
  EngineOptions o;
  o.backend = BackendKind::cpu;
  o.device_dtype = DeviceDtypeSetting::bf16;
  try {
    load_engine(tmp.path() / "m.h5", o);
    FAIL() << "bf16 needs a backend with bf16 matmul";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_NE(e.message().find("model.device_dtype"), std::string::npos) << e.message();
  }
}

// model.device_dtype reaches the loaders of local distillation and the model
// embedder (they passed no dtype before: bf16 on the CPU loaded as f32).
TEST(EngineMemory, LocalDistillAndTheEmbedderPassTheDeviceDtype) {
  testing::TempDir tmp;
  testing::write_tiny_local_checkpoint(tmp.path() / "m.h5");
  auto expect_config_error = [](const std::function<void()>& load, const char* who) {
    try {
      load();
      ADD_FAILURE() << who << ": bf16 on the CPU must be refused";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::config) << who;
      EXPECT_NE(e.message().find("model.device_dtype"), std::string::npos) << who << ": " << e.message();
    }
  };
  expect_config_error([&] { load_local_engine(tmp.path() / "m.h5", BackendKind::cpu, 0, "", DeviceDtypeSetting::bf16); }, "distill local");
  expect_config_error([&] { ModelEmbedder(tmp.path() / "m.h5", BackendKind::cpu, 0, 64, 4, DeviceDtypeSetting::bf16); }, "model embedder");
  EXPECT_EQ(load_local_engine(tmp.path() / "m.h5", BackendKind::cpu, 0, "", DeviceDtypeSetting::f32).model->base_dtype(), DType::f32);
}

}  // namespace
}  // namespace personas
