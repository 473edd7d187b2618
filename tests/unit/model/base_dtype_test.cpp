// model.device_dtype (issue 19): the dtype decision, the upload plan's byte
// accounting, the CPU path unchanged, and the model's bf16 plumbing (bf16
// views of the base into matmul, the batch-invariant matmul and the embedding
// gather; merged_weights widening them) on a CPU backend that emulates bf16
// operands by widening them exactly, so a bf16 base must give the bits of an
// f32 base holding the same rounded values.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "core/errors.h"
#include "model/base_dtype.h"

#include "model/checkpoint.h"
#include "model/model_config.h"
#include "tiny_model.h"

namespace personas {
namespace {

using testing::tiny_batch;
using testing::tiny_config;
using testing::tiny_weights;

// CpuBackend plus bf16 operands (widened to f32 in a temporary, then the CPU op):
// what a CUDA backend accepts, with the CPU's arithmetic. Counts the bf16 calls.
class Bf16CpuBackend : public CpuBackend {
 public:
  explicit Bf16CpuBackend(DeviceKind kind = DeviceKind::cpu) : kind_(kind) {}
  DeviceKind device() const override { return kind_; }
  bool supports(Op op, DType dtype) const override {
    if (dtype == DType::bf16) return op == Op::matmul || op == Op::embedding;
    return CpuBackend::supports(op, dtype);
  }
  void matmul(TensorView a, bool ta, TensorView b, bool tb, TensorView c, float alpha, float beta) override {
    DeviceBuffer wa, wb;
    CpuBackend::matmul(widen(a, wa), ta, widen(b, wb), tb, c, alpha, beta);
  }
  void matmul_batch_invariant(TensorView x, TensorView w, TensorView y, float alpha, float beta) override {
    DeviceBuffer ww;
    CpuBackend::matmul_batch_invariant(x, widen(w, ww), y, alpha, beta);
  }
  void embedding_forward(TensorView ids, TensorView table, TensorView out) override {
    DeviceBuffer wt;
    CpuBackend::embedding_forward(ids, widen(table, wt), out);
  }
  int bf16_calls = 0;

 private:
  TensorView widen(TensorView t, DeviceBuffer& holder) {
    if (t.dtype != DType::bf16) return t;
    ++bf16_calls;
    holder = DeviceBuffer(*this, t.rows, t.cols);
    const auto* src = static_cast<const std::uint16_t*>(t.data);
    float* dst = holder.view().f32();
    for (std::int64_t i = 0; i < t.numel(); ++i) dst[i] = bf16_to_f32(src[i]);
    return holder.view();
  }
  DeviceKind kind_;
};

LoraSpec all_linears() {
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                  LoraTarget::down_proj};
  spec.rank = 4;
  spec.alpha = 8.0f;
  return spec;
}

ModelWeights rounded_to_bf16(ModelWeights w) {
  for (auto& [name, t] : w.tensors)
    if (takes_device_dtype(name))
      for (auto& v : t.data) v = bf16_to_f32(f32_to_bf16(v));
  return w;
}

std::size_t plan_bytes(const std::vector<BaseTensorUpload>& plan) {
  std::size_t bytes = 0;
  for (const auto& t : plan) bytes += t.bytes();
  return bytes;
}

TEST(DeviceDtype, AutoIsBf16OnCudaAndF32OnTheCpu) {
  CpuBackend cpu;
  EXPECT_EQ(resolve_device_dtype(DeviceDtypeSetting::automatic, cpu), DType::f32);
  EXPECT_EQ(resolve_device_dtype(DeviceDtypeSetting::f32, cpu), DType::f32);
  const Bf16CpuBackend cuda_like(DeviceKind::cuda);
  EXPECT_EQ(resolve_device_dtype(DeviceDtypeSetting::automatic, cuda_like), DType::bf16);
  EXPECT_EQ(resolve_device_dtype(DeviceDtypeSetting::bf16, cuda_like), DType::bf16);
  EXPECT_EQ(resolve_device_dtype(DeviceDtypeSetting::f32, cuda_like), DType::f32);
  // A CPU-side backend that can read bf16 still defaults to f32: the CPU path stays the oracle's.
  EXPECT_EQ(resolve_device_dtype(DeviceDtypeSetting::automatic, Bf16CpuBackend(DeviceKind::cpu)), DType::f32);
}

TEST(DeviceDtype, Bf16WithoutSupportAndUnknownValuesAreConfigErrors) {
  CpuBackend cpu;
  try {
    resolve_device_dtype(DeviceDtypeSetting::bf16, cpu);
    FAIL() << "bf16 on the plain CPU backend must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_NE(e.message().find("model.device_dtype"), std::string::npos) << e.message();
  }
  // A word that is not a choice never reaches the code: the schema refuses it, naming the choices.
  ModelConfig model;
  ConfigSchema schema;
  model.describe(schema);
  const std::string refused = schema.set("model.device_dtype", "fp16");
  EXPECT_NE(refused.find("not one of auto|bf16|f32"), std::string::npos) << refused;
  EXPECT_EQ(schema.set("model.device_dtype", "bf16"), "");
  EXPECT_EQ(model.device_dtype, DeviceDtypeSetting::bf16);
}

TEST(DeviceDtype, PlanPutsMatricesInTheDeviceDtypeAndNormsInF32) {
  for (bool tied : {false, true}) {
    const Phi3Config c = tiny_config(tied);
    const auto f32 = plan_base_upload(c, DType::f32), bf16 = plan_base_upload(c, DType::bf16);
    ASSERT_EQ(f32.size(), bf16.size());
    ASSERT_EQ(f32.size(), static_cast<std::size_t>(1 + 6 * c.num_hidden_layers + 1 + (tied ? 0 : 1)));
    std::size_t norms = 0, matrices = 0;
    for (std::size_t i = 0; i < bf16.size(); ++i) {
      const bool norm = bf16[i].name.find("norm") != std::string::npos;
      EXPECT_EQ(bf16[i].dtype, norm ? DType::f32 : DType::bf16) << bf16[i].name;
      EXPECT_EQ(f32[i].dtype, DType::f32) << f32[i].name;
      (norm ? norms : matrices) += static_cast<std::size_t>(bf16[i].rows * bf16[i].cols);
    }
    EXPECT_EQ(plan_bytes(f32), 4 * (norms + matrices));
    EXPECT_EQ(plan_bytes(bf16), 4 * norms + 2 * matrices);
  }
}

TEST(DeviceDtype, CpuModelUploadsTheF32PlanAndNothingElse) {
  for (bool tied : {false, true}) {
    const Phi3Config c = tiny_config(tied);
    CpuBackend cpu;
    LoraModel model(tiny_weights(c), cpu, all_linears(), /*n_adapters=*/0);
    EXPECT_EQ(model.base_dtype(), DType::f32);
    EXPECT_EQ(model.base_bytes(), plan_bytes(plan_base_upload(c, DType::f32)));
    // The pool's own accounting: the live blocks asked for exactly the planned bytes.
    EXPECT_EQ(cpu.memory_stats().requested_bytes, model.base_bytes());
  }
}

TEST(DeviceDtype, PlainCpuBackendRefusesABf16Base) {
  CpuBackend cpu;
  // resolve_device_dtype refuses the setting (config); a LoraModel asked for it anyway is a bug.
  EXPECT_THROW(LoraModel(tiny_weights(tiny_config()), cpu, all_linears(), 1, DType::bf16), InternalError);
}

// The bf16 base gives exactly what an f32 base of the rounded values gives:
// loss, gradients, scores, generation, merged weights; half the matrix bytes.
TEST(DeviceDtype, Bf16BaseMatchesTheF32BaseOfTheSameRoundedValues) {
  for (bool tied : {false, true}) {
    const Phi3Config c = tiny_config(tied);
    const ModelWeights weights = tiny_weights(c);
    Bf16CpuBackend b16;
    CpuBackend f32;
    LoraModel m16(weights, b16, all_linears(), 2, DType::bf16);
    LoraModel m32(rounded_to_bf16(weights), f32, all_linears(), 2, DType::f32);
    EXPECT_EQ(m16.base_dtype(), DType::bf16);
    EXPECT_EQ(m16.base_bytes(), plan_bytes(plan_base_upload(c, DType::bf16)));
    const auto arenas = static_cast<std::size_t>(m16.adapter(0).n_params()) * 4 * sizeof(float) * 2;  // params, grads, m, v
    EXPECT_EQ(b16.memory_stats().requested_bytes, m16.base_bytes() + arenas);
    for (int a = 0; a < 2; ++a) {
      testing::randomize_adapter(m16.adapter(a), 11 + a);
      testing::randomize_adapter(m32.adapter(a), 11 + a);
    }
    TokenBatch batch = tiny_batch();
    batch.adapters = {0, 1, 0};
    const LossResult l16 = m16.forward_backward(batch), l32 = m32.forward_backward(batch);
    EXPECT_EQ(l16.loss_sum, l32.loss_sum);
    for (int a = 0; a < 2; ++a) EXPECT_EQ(m16.adapter(a).to_host(1), m32.adapter(a).to_host(1)) << "grads " << a;
    const std::vector<ScorePosition> pos = {{0, 4}, {1, 2}, {2, 5}};
    const std::vector<std::int32_t> ids = {3, 9, 17};
    EXPECT_EQ(m16.score(batch, pos, ids), m32.score(batch, pos, ids));
    EXPECT_EQ(m16.logits(batch, pos), m32.logits(batch, pos));
    GenerateOptions go;
    go.max_new_tokens = 6;
    const std::vector<std::int32_t> prompt = {1, 5, 9, 12};
    EXPECT_EQ(m16.generate(prompt, go, 1), m32.generate(prompt, go, 1));
    std::vector<GenerateRequest> requests(3);
    for (int r = 0; r < 3; ++r) {
      requests[static_cast<std::size_t>(r)].prompt = {1, 4 + r, 7};
      requests[static_cast<std::size_t>(r)].adapter = r - 1;
      requests[static_cast<std::size_t>(r)].max_new_tokens = 5;
    }
    BatchGenerateOptions two_slots;
    two_slots.max_batch = 2;
    EXPECT_EQ(m16.generate_batch(requests, two_slots), m32.generate_batch(requests, two_slots));
    const ModelWeights w16 = m16.merged_weights(0), w32 = m32.merged_weights(0);
    for (const auto& [name, t] : w32.tensors) EXPECT_EQ(w16.tensors.at(name).data, t.data) << name;
    EXPECT_GT(b16.bf16_calls, 0);
  }
}

}  // namespace
}  // namespace personas
