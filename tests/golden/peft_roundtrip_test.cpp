// The PEFT round trip (issue 6): our PEFT export, loaded by Hugging Face PEFT
// on the same tiny base, gives the logits our LoraModel computes. Two
// families: a q/k-only adapter fused onto a tiny Phi-3's qkv_proj
// (tests/golden/fixtures/peft_roundtrip/) and an all-targets adapter on a
// tiny Llama exported as separate modules (.../peft_roundtrip_llama/). The
// fixtures come from tools/golden/peft_roundtrip.py [--family llama] (steps
// and versions in that script); PERSONAS_WRITE_GOLDEN=1 rewrites our side of
// them (export + input ids).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>
#include <random>

#include "backend/backend.h"
#include "core/errors.h"
#include "core/fs.h"
#include "io/safetensors.h"
#include "model/convert.h"
#include "model/lora_model.h"
#include "support/test_support.h"
#include "train/adapter_export.h"

namespace personas {
namespace {

fs::path fixture_dir() { return testing::source_dir() / "tests" / "golden" / "fixtures" / "peft_roundtrip"; }

ModelWeights load_base(const fs::path& dir) {
  ModelWeights w;
  w.config = phi3_config_from_hf_json(read_file(dir / "config.json"), (dir / "config.json").string());
  safetensors::File f(dir / "model.safetensors");
  for (const auto& [name, info] : f.tensors()) w.tensors[name] = HostTensor{info.shape, f.read_f32(name)};
  return w;
}

fs::path llama_fixture_dir() { return testing::source_dir() / "tests" / "golden" / "fixtures" / "peft_roundtrip_llama"; }

// A seeded adapter with non-zero A and B on every target of the arena.
void fill_adapter(LoraArena& arena, std::uint64_t seed = 77, float stddev = 0.3f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<float> p(static_cast<std::size_t>(arena.n_params()));
  for (auto& x : p) x = normal(rng);
  arena.from_host(0, p);
}

const std::vector<std::vector<std::int32_t>> kInputs = {{1, 5, 9, 13, 17, 21, 25, 29}, {1, 40, 3, 62, 7}};

bool writing_golden() {
  const char* write = std::getenv("PERSONAS_WRITE_GOLDEN");
  return write && std::string(write) == "1";
}

// Our PEFT export of `adapter` is the one in the fixture `dir` (the one PEFT
// read): the same safetensors bytes and adapter_config.json. With
// PERSONAS_WRITE_GOLDEN=1 it writes the export and the input ids into `dir`
// instead and returns false, so that the test skips to the script's next step.
bool export_matches_fixture(const fs::path& dir, const AdapterTensors& adapter, const Phi3Config& config,
                            const PeftExportOptions& po, const std::vector<std::vector<std::int32_t>>& inputs,
                            const std::string& regenerate) {
  if (writing_golden()) {
    write_peft_adapter(dir, adapter, config, po);
    write_file_atomic(dir / "input_ids.json", nlohmann::json{{"input_ids", inputs}}.dump() + "\n");
    return false;
  }
  testing::TempDir tmp;
  write_peft_adapter(tmp.path(), adapter, config, po);
  EXPECT_EQ(read_file(tmp / "adapter_model.safetensors"), read_file(dir / "adapter_model.safetensors"))
      << "the export changed: regenerate the fixture (" << regenerate << ")";
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp / "adapter_config.json")),
            nlohmann::json::parse(read_file(dir / "adapter_config.json")));
  return true;
}

struct LogitsComparison {
  double max_diff = 0;            // |ours - PEFT's|
  double max_adapter_effect = 0;  // |PEFT's - PEFT's without the adapter|
};

// Our logits at every position of every row of `inputs` (one row per batch)
// against expected_logits.json's "logits" and "base_logits".
LogitsComparison compare_logits(LoraModel& model, const nlohmann::json& expected,
                                const std::vector<std::vector<std::int32_t>>& inputs, std::int64_t vocab) {
  LogitsComparison c;
  EXPECT_EQ(expected["logits"].size(), inputs.size());
  for (std::size_t row = 0; row < inputs.size(); ++row) {
    const auto& ids = inputs[row];
    TokenBatch batch = TokenBatch::from_sequences(std::span(&ids, 1), {}, 0);
    std::vector<ScorePosition> positions;
    for (int t = 0; t < static_cast<int>(ids.size()); ++t) positions.push_back({0, t});
    const auto ours = model.logits(batch, positions);
    const auto& theirs = expected["logits"][row];
    const auto& base = expected["base_logits"][row];
    EXPECT_EQ(theirs.size(), ids.size());
    if (theirs.size() != ids.size()) return c;
    for (std::size_t t = 0; t < ids.size(); ++t)
      for (std::int64_t v = 0; v < vocab; ++v) {
        const double o = ours[t * static_cast<std::size_t>(vocab) + static_cast<std::size_t>(v)];
        c.max_diff = std::max(c.max_diff, std::abs(o - theirs[t][static_cast<std::size_t>(v)].get<double>()));
        c.max_adapter_effect = std::max(
            c.max_adapter_effect, std::abs(theirs[t][static_cast<std::size_t>(v)].get<double>() -
                                           base[t][static_cast<std::size_t>(v)].get<double>()));
      }
  }
  return c;
}

TEST(PeftRoundTrip, PeftReadsOurExportAsOurModel) {
  const fs::path dir = fixture_dir();
  ASSERT_TRUE(fs::exists(dir / "model.safetensors")) << "run tools/golden/peft_roundtrip.py base";
  auto weights = load_base(dir);
  auto backend = make_backend(BackendKind::cpu);
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k};
  spec.rank = 4;
  spec.alpha = 8;
  LoraModel model(weights, *backend, spec, 1);
  fill_adapter(model.adapter(0));
  auto adapter = adapter_from_arena(model.adapter(0), weights.config.num_hidden_layers, "golden", "fixture");
  PeftExportOptions po;
  po.base_model_name = "tests/golden/fixtures/peft_roundtrip";

  if (!export_matches_fixture(dir, adapter, weights.config, po, kInputs, "tools/golden/peft_roundtrip.py"))
    GTEST_SKIP() << "wrote our export into " << dir << "; now run tools/golden/peft_roundtrip.py logits";

  const auto expected = nlohmann::json::parse(read_file(dir / "expected_logits.json"));
  EXPECT_EQ(expected["r"].get<int>(), 8);  // q and k fused: 2 x rank 4
  EXPECT_DOUBLE_EQ(expected["lora_alpha"].get<double>(), 16.0);
  const auto c = compare_logits(model, expected, kInputs, weights.config.vocab_size);
  EXPECT_LT(c.max_diff, 2e-4) << "our logits vs PEFT's";
  EXPECT_GT(c.max_adapter_effect, 0.05) << "the adapter must change the logits for the test to mean anything";
}

const std::vector<std::vector<std::int32_t>> kLlamaInputs = {{1, 7, 33, 12, 60, 4, 19, 50, 2}, {1, 63, 8, 27, 45}};

// The llama family: a tiny LlamaForCausalLM in Hugging Face format (separate
// q/k/v and gate/up projections, GQA, tied embeddings), converted like any HF
// llama checkpoint (`personas convert --from hf`), an adapter on every target,
// and our export as separate q_proj ... down_proj modules read by PEFT.
TEST(PeftRoundTrip, PeftReadsOurLlamaExportAsOurModel) {
  const fs::path dir = llama_fixture_dir();
  ASSERT_TRUE(fs::exists(dir / "model.safetensors")) << "run tools/golden/peft_roundtrip.py base --family llama";
  auto weights = convert_hf(dir).weights;
  ASSERT_EQ(weights.config.arch, ModelArch::llama);
  ASSERT_TRUE(weights.config.tie_word_embeddings);
  ASSERT_EQ(weights.config.num_key_value_heads, 2);
  auto backend = make_backend(BackendKind::cpu);
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                  LoraTarget::down_proj};
  spec.rank = 4;
  spec.alpha = 8;
  LoraModel model(weights, *backend, spec, 1);
  fill_adapter(model.adapter(0), 78, 0.15f);
  auto adapter = adapter_from_arena(model.adapter(0), weights.config.num_hidden_layers, "golden-llama", "fixture");
  PeftExportOptions po;
  po.base_model_name = "tests/golden/fixtures/peft_roundtrip_llama";

  if (!export_matches_fixture(dir, adapter, weights.config, po, kLlamaInputs,
                              "tools/golden/peft_roundtrip.py --family llama"))
    GTEST_SKIP() << "wrote our export into " << dir << "; now run tools/golden/peft_roundtrip.py logits --family llama";
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "input_ids.json"))["input_ids"].get<std::vector<std::vector<std::int32_t>>>(),
            kLlamaInputs);

  const auto expected = nlohmann::json::parse(read_file(dir / "expected_logits.json"));
  EXPECT_EQ(expected["r"].get<int>(), 4);  // every module at our rank and alpha: nothing fused
  EXPECT_DOUBLE_EQ(expected["lora_alpha"].get<double>(), 8.0);
  EXPECT_EQ(expected["target_modules"].get<std::vector<std::string>>(),
            (std::vector<std::string>{"down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"}));
  const auto c = compare_logits(model, expected, kLlamaInputs, weights.config.vocab_size);
  EXPECT_LT(c.max_diff, 2e-4) << "our logits vs PEFT's";
  EXPECT_GT(c.max_adapter_effect, 0.05) << "the adapter must change the logits for the test to mean anything";
  std::cout << "llama round trip: max |ours - PEFT| " << c.max_diff << ", max adapter effect " << c.max_adapter_effect
            << "\n";
}

TEST(PeftRoundTrip, MixedTargetsUseRankAndAlphaPatterns) {
  auto weights = load_base(fixture_dir());
  auto backend = make_backend(BackendKind::cpu);
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj};
  spec.rank = 2;
  spec.alpha = 4;
  LoraModel model(weights, *backend, spec, 1);
  fill_adapter(model.adapter(0));
  auto adapter = adapter_from_arena(model.adapter(0), weights.config.num_hidden_layers, "mixed", "x");
  testing::TempDir tmp;
  write_peft_adapter(tmp.path(), adapter, weights.config);
  auto cfg = nlohmann::json::parse(read_file(tmp / "adapter_config.json"));
  EXPECT_EQ(cfg["r"], 2);
  EXPECT_EQ(cfg["rank_pattern"]["qkv_proj"], 6);
  EXPECT_DOUBLE_EQ(cfg["alpha_pattern"]["qkv_proj"].get<double>(), 12.0);
  safetensors::File f(tmp / "adapter_model.safetensors");
  EXPECT_EQ(f.info("base_model.model.model.layers.1.self_attn.qkv_proj.lora_A.weight").shape,
            (std::vector<std::int64_t>{6, 32}));
  EXPECT_EQ(f.info("base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight").shape,
            (std::vector<std::int64_t>{32, 2}));
  // The HDF5 export reads back bit for bit.
  write_adapter_h5(tmp / "a.h5", adapter);
  auto back = read_adapter_h5(tmp / "a.h5", weights.config);
  EXPECT_EQ(back.params, adapter.params);
  EXPECT_EQ(back.spec.targets, spec.targets);
  LoraModel other(weights, *backend, spec, 1);
  load_adapter_into(tmp / "a.h5", other.adapter(0), weights.config, "x");
  EXPECT_EQ(other.adapter(0).to_host(0), adapter.params);
  EXPECT_THROW(load_adapter_into(tmp / "a.h5", other.adapter(0), weights.config, "another-base"), Error);
}

// A llama-family base: every target is its own PEFT module at rank r and
// alpha (q_proj ... down_proj), gate_up_proj's A shared by gate_proj and
// up_proj and its B split by rows, so PEFT's modules hold exactly our delta.
TEST(PeftRoundTrip, LlamaBaseGetsSeparateModulesWithTheSameValues) {
  auto weights = load_base(fixture_dir());
  weights.config.arch = ModelArch::llama;
  auto backend = make_backend(BackendKind::cpu);
  LoraSpec spec;
  spec.targets = {LoraTarget::q, LoraTarget::k, LoraTarget::v, LoraTarget::o_proj, LoraTarget::gate_up_proj,
                  LoraTarget::down_proj};
  spec.rank = 2;
  spec.alpha = 4;
  LoraModel model(weights, *backend, spec, 1);
  fill_adapter(model.adapter(0));
  auto adapter = adapter_from_arena(model.adapter(0), weights.config.num_hidden_layers, "llama", "x");
  testing::TempDir tmp;
  write_peft_adapter(tmp.path(), adapter, weights.config);
  auto cfg = nlohmann::json::parse(read_file(tmp / "adapter_config.json"));
  EXPECT_EQ(cfg["r"], 2);
  EXPECT_DOUBLE_EQ(cfg["lora_alpha"].get<double>(), 4.0);
  EXPECT_TRUE(cfg["rank_pattern"].empty());
  EXPECT_EQ(cfg["target_modules"].get<std::vector<std::string>>(),
            (std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
  safetensors::File f(tmp / "adapter_model.safetensors");
  const std::int64_t inter = weights.config.intermediate_size;
  const std::string p = "base_model.model.model.layers.1.";
  auto ours = [&](LoraTarget t, bool is_b) {
    for (const auto& info : adapter.tensors)
      if (info.layer == 1 && info.target == t && info.is_b == is_b)
        return std::vector<float>(adapter.params.begin() + info.offset,
                                  adapter.params.begin() + info.offset + info.rows * info.cols);
    return std::vector<float>{};
  };
  EXPECT_EQ(f.read_f32(p + "self_attn.k_proj.lora_B.weight"), ours(LoraTarget::k, true));
  EXPECT_EQ(f.read_f32(p + "self_attn.k_proj.lora_A.weight"), ours(LoraTarget::k, false));
  const auto gate_up_b = ours(LoraTarget::gate_up_proj, true);
  const auto half = static_cast<std::ptrdiff_t>(inter * spec.rank);
  EXPECT_EQ(f.read_f32(p + "mlp.gate_proj.lora_B.weight"), std::vector<float>(gate_up_b.begin(), gate_up_b.begin() + half));
  EXPECT_EQ(f.read_f32(p + "mlp.up_proj.lora_B.weight"), std::vector<float>(gate_up_b.begin() + half, gate_up_b.end()));
  EXPECT_EQ(f.read_f32(p + "mlp.gate_proj.lora_A.weight"), ours(LoraTarget::gate_up_proj, false));
  EXPECT_EQ(f.read_f32(p + "mlp.up_proj.lora_A.weight"), ours(LoraTarget::gate_up_proj, false));
  EXPECT_EQ(f.info(p + "mlp.up_proj.lora_B.weight").shape, (std::vector<std::int64_t>{inter, 2}));
}

}  // namespace
}  // namespace personas
