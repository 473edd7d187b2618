// The frozen base stored in bf16 on the GPU (model.device_dtype = bf16, the
// default on CUDA) against the fp32 CPU oracle (tiny preset model, LoRA r8 on
// every linear, a mixed-adapter batch). The GPU runs the bf16 base's GEMMs on
// bf16 operands (the fp32 activation rounded to bf16), so this is the bf16
// tensor-core tolerance of the training-step test:
//   loss 2e-2 relative; LoRA gradients 5e-2 relative L2;
//   chosen-token scores and logits 2e-2 absolute + 2e-2 relative.
// Against an f32 base of the same rounded values the only difference left is
// the activations' rounding, and merged_weights must return the rounded
// values exactly; the base must take half the f32 matrix bytes in the pool.
#ifdef PERSONAS_HAVE_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <random>

#include "cuda_test_support.h"
#include "model/base_dtype.h"
#include "model/checkpoint.h"
#include "model/init_model.h"
#include "model/lora_model.h"
#include "model/token_batch.h"

namespace personas {
namespace {

using cuda_test::all_close;

double relative_l2(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(a[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}

struct Bf16Case {
  Phi3Config config = preset_config(ModelPreset::tiny, 300);
  ModelWeights weights;
  LoraSpec spec;
  std::vector<std::vector<float>> adapters;
  TokenBatch batch;
  std::vector<ScorePosition> positions;
  std::vector<std::int32_t> digits = {17, 18, 19, 20, 21};

  Bf16Case() {
    weights = random_weights(config, 23);
    spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                    LoraTarget::down_proj};
    spec.rank = 8;
    spec.alpha = 16.0f;
    std::mt19937_64 rng(6);
    std::vector<std::vector<std::int32_t>> seqs;
    std::vector<int> begins;
    for (int length : {29, 7, 40, 13}) {
      std::vector<std::int32_t> s(static_cast<std::size_t>(length));
      for (auto& id : s) id = static_cast<std::int32_t>(3 + rng() % static_cast<std::uint64_t>(config.vocab_size - 3));
      seqs.push_back(s);
      begins.push_back(length / 2);
      positions.push_back({static_cast<int>(positions.size()), length - 1});
    }
    batch = TokenBatch::from_sequences(seqs, begins, 0);
    batch.adapters = {1, 0, 1, -1};
    CpuBackend cpu;
    LoraModel probe(weights, cpu, spec, 1);
    std::uniform_real_distribution<float> d(-0.05f, 0.05f);
    for (int a = 0; a < 2; ++a) {
      std::vector<float> v(static_cast<std::size_t>(probe.adapter(0).n_params()));
      for (auto& x : v) x = d(rng);
      adapters.push_back(std::move(v));
    }
  }
  std::unique_ptr<LoraModel> model_on(Backend& backend, DType dtype, const ModelWeights& w) const {
    auto m = std::make_unique<LoraModel>(w, backend, spec, 2, dtype);
    for (int a = 0; a < 2; ++a) m->adapter(a).from_host(0, adapters[static_cast<std::size_t>(a)]);
    return m;
  }
  struct Result {
    double loss = 0.0;
    std::vector<float> grads0, grads1, scores, logits;
  };
  Result run(LoraModel& m) const {
    Result r;
    r.loss = m.forward_backward(batch).mean();
    r.grads0 = m.adapter(0).to_host(1);
    r.grads1 = m.adapter(1).to_host(1);
    r.scores = m.score(batch, positions, digits);
    r.logits = m.logits(batch, positions);
    return r;
  }
};

// The op under the bf16 embedding and the tied lm_head's row gather: an exact widening of the bf16 values.
TEST(CudaBf16Base, EmbeddingGathersFromABf16TableExactly) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  ASSERT_TRUE(gpu->supports(Op::embedding, DType::bf16));
  const std::int64_t vocab = 133, width = 77;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<std::uint16_t> table(static_cast<std::size_t>(vocab * width));
  for (auto& v : table) v = f32_to_bf16(d(rng));
  const std::vector<std::int32_t> ids = {0, 132, 7, 7, 64, 1};
  void* dt = gpu->allocate(table.size() * 2);
  void* di = gpu->allocate(ids.size() * 4);
  void* dout = gpu->allocate(ids.size() * static_cast<std::size_t>(width) * 4);
  gpu->copy_to_device(dt, table.data(), table.size() * 2);
  gpu->copy_to_device(di, ids.data(), ids.size() * 4);
  gpu->embedding_forward(TensorView{di, DType::i32, static_cast<std::int64_t>(ids.size()), 1},
                         TensorView{dt, DType::bf16, vocab, width},
                         TensorView{dout, DType::f32, static_cast<std::int64_t>(ids.size()), width});
  std::vector<float> out(ids.size() * static_cast<std::size_t>(width));
  gpu->copy_to_host(out.data(), dout, out.size() * 4);
  std::size_t bad = 0;
  for (std::size_t r = 0; r < ids.size(); ++r)
    for (std::int64_t j = 0; j < width; ++j)
      bad += out[r * static_cast<std::size_t>(width) + static_cast<std::size_t>(j)] !=
             bf16_to_f32(table[static_cast<std::size_t>(ids[r] * width + j)]);
  EXPECT_EQ(bad, 0u);
  gpu->release(dt);
  gpu->release(di);
  gpu->release(dout);
}

TEST(CudaBf16Base, ForwardBackwardMatchesTheF32CpuOracle) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  const Bf16Case c;
  CpuBackend cpu;
  auto on_cpu = c.model_on(cpu, DType::f32, c.weights);
  auto on_gpu = c.model_on(*gpu, DType::bf16, c.weights);
  ASSERT_EQ(on_gpu->base_dtype(), DType::bf16);
  const auto ref = c.run(*on_cpu), got = c.run(*on_gpu);
  EXPECT_NEAR(got.loss, ref.loss, 2e-2 * std::fabs(ref.loss)) << "loss";
  EXPECT_LT(relative_l2(got.grads0, ref.grads0), 5e-2) << "adapter 0 gradients";
  EXPECT_LT(relative_l2(got.grads1, ref.grads1), 5e-2) << "adapter 1 gradients";
  EXPECT_TRUE(all_close(got.scores, ref.scores, 2e-2, 2e-2)) << "chosen-token scores";
  EXPECT_TRUE(all_close(got.logits, ref.logits, 2e-2, 2e-2)) << "full logits";
  std::cout << "[bf16 base] loss gpu " << got.loss << " cpu " << ref.loss << ", grad rel-L2 "
            << relative_l2(got.grads0, ref.grads0) << " / " << relative_l2(got.grads1, ref.grads1) << "\n";
}

TEST(CudaBf16Base, HalfTheMatrixBytesAndMergedWeightsAreTheRoundedValues) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  const Bf16Case c;
  gpu->reset_peak_memory();
  const std::size_t before = gpu->memory_stats().requested_bytes;
  auto on_gpu = c.model_on(*gpu, DType::bf16, c.weights);
  std::size_t planned = 0;
  for (const auto& t : plan_base_upload(c.config, DType::bf16)) planned += t.bytes();
  EXPECT_EQ(on_gpu->base_bytes(), planned);
  const auto arenas = static_cast<std::size_t>(on_gpu->adapter(0).n_params()) * 4 * sizeof(float) * 2;
  EXPECT_EQ(gpu->memory_stats().requested_bytes - before, planned + arenas);
  const ModelWeights merged_zero = [&] {
    auto m = c.model_on(*gpu, DType::bf16, c.weights);
    m->adapter(0).from_host(0, std::vector<float>(c.adapters[0].size(), 0.0f));  // B = 0: the base itself
    return m->merged_weights(0);
  }();
  for (const auto& [name, t] : c.weights.tensors) {
    const auto& got = merged_zero.tensors.at(name).data;
    ASSERT_EQ(got.size(), t.data.size()) << name;
    std::size_t bad = 0;
    for (std::size_t i = 0; i < t.data.size(); ++i) {
      const float want = takes_device_dtype(name) ? bf16_to_f32(f32_to_bf16(t.data[i])) : t.data[i];
      bad += got[i] != want;
    }
    EXPECT_EQ(bad, 0u) << name;
  }
}

TEST(CudaBf16Base, BatchedGenerationEqualsGenerateOnTheBf16Base) {
  PERSONAS_REQUIRE_GPU(gpu, false);
  const Bf16Case c;
  auto m = c.model_on(*gpu, DType::bf16, c.weights);
  std::vector<GenerateRequest> requests;
  for (int r = 0; r < 5; ++r) {
    GenerateRequest q;
    q.prompt = {1, 5 + r, 9, 30 + r};
    q.adapter = r % 3 - 1;
    q.max_new_tokens = 8;
    requests.push_back(q);
  }
  BatchGenerateOptions three_slots;
  three_slots.max_batch = 3;
  const auto batched = m->generate_batch(requests, three_slots);
  for (std::size_t r = 0; r < requests.size(); ++r) {
    GenerateOptions go;
    go.max_new_tokens = 8;
    EXPECT_EQ(batched[r], m->generate(requests[r].prompt, go, requests[r].adapter)) << "request " << r;
  }
}

}  // namespace
}  // namespace personas

#endif  // PERSONAS_HAVE_CUDA
