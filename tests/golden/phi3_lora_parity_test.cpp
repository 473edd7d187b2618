// Issue 3, acceptance 1: our Phi-3 + LoRA against Hugging Face transformers +
// PEFT (fixtures and their making in tests/golden/README.md): logits within
// 1e-4 relative, the loss within 1e-5, every LoRA gradient within 1e-4
// relative (to the tensor's largest |value|).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "backend/cpu/cpu_backend.h"
#include "core/fs.h"
#include "io/safetensors.h"
#include "model/convert.h"
#include "model/lora_model.h"
#include "support/test_support.h"

namespace personas {
namespace {

fs::path fixtures() { return testing::source_dir() / "tests" / "golden" / "fixtures"; }

double max_relative(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0.0, scale = 1e-12;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::abs(static_cast<double>(want[i])));
  }
  return diff / scale;
}

class Phi3LoraParity : public ::testing::TestWithParam<std::string> {};

TEST_P(Phi3LoraParity, LogitsLossAndGradientsMatchPeft) {
  const std::string name = GetParam();
  const auto golden = nlohmann::json::parse(read_file(fixtures() / "golden.json"));
  const auto& c = golden["cases"][name];
  const ConvertedModel base = convert_hf(fixtures() / "tiny_phi3");
  LoraSpec spec;
  spec.targets.clear();
  for (const auto& t : c["targets"]) spec.targets.push_back(parse_lora_target(t.get<std::string>(), "golden.json"));
  spec.rank = golden["lora"]["rank"].get<int>();
  spec.alpha = golden["lora"]["alpha"].get<float>();
  CpuBackend cpu;
  LoraModel model(base.weights, cpu, spec, 1);
  safetensors::File f(fixtures() / c["file"].get<std::string>());
  LoraArena& arena = model.adapter(0);
  std::vector<float> params(static_cast<std::size_t>(arena.n_params()));
  for (const auto& info : arena.tensors()) {
    const std::string key = fmt::format("layers.{}.{}.lora_{}", info.layer, lora_target_name(info.target), info.is_b ? "B" : "A");
    const auto values = f.read_f32(key);
    ASSERT_EQ(static_cast<std::int64_t>(values.size()), info.rows * info.cols) << key;
    std::copy(values.begin(), values.end(), params.begin() + info.offset);
  }
  arena.from_host(0, params);

  // The batch: right-padded rows; target of position t-1 is token t where answer_mask[t] = 1.
  const auto& b = golden["batch"];
  TokenBatch batch;
  batch.batch = static_cast<int>(b["input_ids"].size());
  batch.seq = static_cast<int>(b["input_ids"][0].size());
  batch.targets.assign(static_cast<std::size_t>(batch.batch * batch.seq), -1);
  for (int r = 0; r < batch.batch; ++r) {
    int len = 0;
    for (int t = 0; t < batch.seq; ++t) {
      batch.ids.push_back(b["input_ids"][r][t].get<std::int32_t>());
      len += b["attention_mask"][r][t].get<int>();
      if (t > 0 && b["answer_mask"][r][t].get<int>() == 1)
        batch.targets[static_cast<std::size_t>(r * batch.seq + t - 1)] = b["input_ids"][r][t].get<std::int32_t>();
    }
    batch.lengths.push_back(len);
  }

  // Logits at every valid position.
  std::vector<ScorePosition> positions;
  std::vector<float> want_logits;
  const auto all_logits = f.read_f32("logits");
  const std::size_t vocab = static_cast<std::size_t>(base.weights.config.vocab_size);
  for (int r = 0; r < batch.batch; ++r)
    for (int t = 0; t < batch.lengths[static_cast<std::size_t>(r)]; ++t) {
      positions.push_back({r, t});
      const std::size_t off = (static_cast<std::size_t>(r) * batch.seq + t) * vocab;
      want_logits.insert(want_logits.end(), all_logits.begin() + off, all_logits.begin() + off + vocab);
    }
  EXPECT_LT(max_relative(model.logits(batch, positions), want_logits), 1e-4);

  const auto loss = model.forward_backward(batch);
  EXPECT_NEAR(loss.mean(), c["loss"].get<double>(), 1e-5);
  const auto grads = arena.to_host(1);
  for (const auto& info : arena.tensors()) {
    const std::string key = fmt::format("layers.{}.{}.grad_{}", info.layer, lora_target_name(info.target), info.is_b ? "B" : "A");
    const std::vector<float> got(grads.begin() + info.offset, grads.begin() + info.offset + info.rows * info.cols);
    EXPECT_LT(max_relative(got, f.read_f32(key)), 1e-4) << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Phi3LoraParity, ::testing::Values("case_a_qk", "case_b_all"));

}  // namespace
}  // namespace personas
