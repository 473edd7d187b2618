#include "model/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/errors.h"
#include "io/hdf5_file.h"
#include "model/init_model.h"
#include "support/test_support.h"

namespace personas {
namespace {

Phi3Config small_config() {
  Phi3Config c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 32;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.pad_token_id = 0;
  c.sliding_window = 7;
  return c;
}

TokenizerData fake_tokenizer() {
  TokenizerData t;
  t.model_bytes = std::string("\x00\x01binary\xff", 9);
  t.added_tokens = {{38, "<|user|>", false, true, true}, {39, "<|x|>", true, false, false}};
  t.chat_template = ChatTemplate::phi3;
  t.bos_id = 1;
  t.eos_id = 2;
  t.pad_id = -1;
  return t;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  return "(no error)";
}

TEST(Checkpoint, ExpectedTensorsFollowHuggingFaceNames) {
  auto c = small_config();
  auto specs = expected_tensors(c);
  EXPECT_EQ(specs.size(), 1u + 6 * 2 + 1 + 1);
  EXPECT_EQ(specs[2].name, "model.layers.0.self_attn.qkv_proj.weight");
  EXPECT_EQ(specs[2].shape, (std::vector<std::int64_t>{16 + 2 * 8, 16}));
  EXPECT_EQ(tensor_name_to_h5_path("model.layers.1.mlp.gate_up_proj.weight"), "/model/layers/1/mlp/gate_up_proj/weight");
  c.tie_word_embeddings = true;
  EXPECT_EQ(expected_tensors(c).back().name, "model.norm.weight");
}

TEST(Checkpoint, F32RoundTripIsExact) {
  testing::TempDir dir;
  auto w = random_weights(small_config(), 5);
  save_checkpoint(dir / "m.h5", w, fake_tokenizer(), StorageDType::f32);
  auto ck = load_checkpoint(dir / "m.h5");
  EXPECT_EQ(ck.weights.tensors.size(), w.tensors.size());
  for (const auto& [name, t] : w.tensors) {
    EXPECT_EQ(ck.weights.at(name).shape, t.shape) << name;
    EXPECT_EQ(ck.weights.at(name).data, t.data) << name;
  }
  EXPECT_EQ(ck.weights.config.sliding_window, 7);
  EXPECT_EQ(ck.weights.config.num_key_value_heads, 2);
  EXPECT_EQ(ck.tokenizer.model_bytes, fake_tokenizer().model_bytes);
  ASSERT_EQ(ck.tokenizer.added_tokens.size(), 2u);
  EXPECT_EQ(ck.tokenizer.added_tokens[1].content, "<|x|>");
  EXPECT_TRUE(ck.tokenizer.added_tokens[1].lstrip);
  EXPECT_FALSE(ck.tokenizer.added_tokens[1].special);
  EXPECT_EQ(ck.tokenizer.chat_template, ChatTemplate::phi3);
  EXPECT_EQ(ck.tokenizer.pad_id, -1);
  EXPECT_EQ(checkpoint_dtype(dir / "m.h5"), StorageDType::f32);
  EXPECT_EQ(load_checkpoint_config(dir / "m.h5").hidden_size, 16);
}

TEST(Checkpoint, Bf16IsARealHdf5FloatAndRoundsToNearest) {
  testing::TempDir dir;
  auto w = random_weights(small_config(), 6);
  save_checkpoint(dir / "m.h5", w, fake_tokenizer(), StorageDType::bf16);
  {
    h5::File f(dir / "m.h5", h5::File::Mode::read);
    auto [cls, size] = f.stored_type("/model/layers/0/self_attn/qkv_proj/weight");
    EXPECT_EQ(cls, H5T_FLOAT);
    EXPECT_EQ(size, 2u);
    // HDF5 itself converts the stored bf16 to float (as h5py does).
    auto via_hdf5 = f.read<float>("/model/norm/weight");
    EXPECT_EQ(via_hdf5, w.at("model.norm.weight").data);  // 1.0 is exact in bf16
  }
  auto ck = load_checkpoint(dir / "m.h5");
  EXPECT_EQ(checkpoint_dtype(dir / "m.h5"), StorageDType::bf16);
  for (const auto& [name, t] : w.tensors) {
    const auto& got = ck.weights.at(name).data;
    for (std::size_t i = 0; i < t.data.size(); ++i)
      ASSERT_NEAR(got[i], t.data[i], std::abs(t.data[i]) / 256 + 1e-30) << name << "[" << i << "]";
  }
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.00390625f)), 1.0f);       // tie to even: down
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.01171875f)), 1.015625f);  // tie to even: up
}

TEST(Checkpoint, LoadNamesMissingAndUnexpectedTensors) {
  testing::TempDir dir;
  auto w = random_weights(small_config(), 7);
  save_checkpoint(dir / "m.h5", w, fake_tokenizer(), StorageDType::f32);
  {
    h5::File f(dir / "m.h5", h5::File::Mode::read_write);
    ASSERT_GE(H5Ldelete(f.id(), "/model/layers/1/mlp/down_proj/weight", H5P_DEFAULT), 0);
    f.write<float>("/model/layers/1/mlp/extra/weight", std::vector<float>{1, 2});
  }
  auto msg = error_of([&] { load_checkpoint(dir / "m.h5"); });
  EXPECT_NE(msg.find("missing tensor /model/layers/1/mlp/down_proj/weight [16, 24]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected tensor /model/layers/1/mlp/extra/weight"), std::string::npos) << msg;
}

TEST(Checkpoint, LoadChecksShapeVersionAndFormat) {
  testing::TempDir dir;
  auto w = random_weights(small_config(), 8);
  save_checkpoint(dir / "m.h5", w, fake_tokenizer(), StorageDType::f32);
  {
    h5::File f(dir / "m.h5", h5::File::Mode::read_write);
    f.write<float>("/model/norm/weight", std::vector<float>(15, 1.0f));
  }
  auto msg = error_of([&] { load_checkpoint(dir / "m.h5"); });
  EXPECT_NE(msg.find("/model/norm/weight has shape [15], expected [16]"), std::string::npos) << msg;
  {
    h5::File f(dir / "m.h5", h5::File::Mode::read_write);
    f.set_attr("/", "format_version", std::int64_t{99});
  }
  msg = error_of([&] { load_checkpoint(dir / "m.h5"); });
  EXPECT_NE(msg.find("format_version 99"), std::string::npos) << msg;
  {
    h5::File f(dir / "other.h5", h5::File::Mode::create);
    f.write<float>("/x", std::vector<float>{1});
  }
  msg = error_of([&] { load_checkpoint(dir / "other.h5"); });
  EXPECT_NE(msg.find("not a personas model checkpoint"), std::string::npos) << msg;
}

TEST(Checkpoint, SaveRefusesInconsistentWeights) {
  testing::TempDir dir;
  auto w = random_weights(small_config(), 9);
  w.tensors["model.layers.0.self_attn.o_proj.weight"].shape = {16, 8};
  w.tensors.erase("lm_head.weight");
  w.tensors["model.layers.0.self_attn.q_proj.weight"] = HostTensor{{16, 16}, std::vector<float>(256)};
  auto msg = error_of([&] { save_checkpoint(dir / "m.h5", w, fake_tokenizer(), StorageDType::f32); });
  EXPECT_NE(msg.find("missing lm_head.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("o_proj.weight has shape [16, 8], expected [16, 16]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected model.layers.0.self_attn.q_proj.weight"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir / "m.h5"));
}

TEST(InitModel, PresetsAndSeededWeights) {
  auto tiny = preset_config(ModelPreset::tiny, 1000);
  EXPECT_EQ(tiny.vocab_size, 1024);
  EXPECT_EQ(tiny.hidden_size, 128);
  auto mini = preset_config(ModelPreset::phi3_mini, 32011);
  EXPECT_EQ(mini.vocab_size, 32064);
  EXPECT_EQ(mini.num_hidden_layers, 32);
  EXPECT_EQ(mini.n_parameters(), 3821079552);  // Phi-3-mini's published 3.8B
  // Every preset has a shape; its storage dtype goes with the enum, never guessed from a name at call sites.
  for (const auto& [word, preset] : model_preset_names()) EXPECT_NO_THROW(preset_config(preset, 1000)) << word;
  EXPECT_EQ(preset_storage_dtype(ModelPreset::phi3_mini), StorageDType::bf16);
  EXPECT_EQ(preset_storage_dtype(ModelPreset::tiny), StorageDType::f32);
  auto a = random_weights(small_config(), 42), b = random_weights(small_config(), 42),
       c = random_weights(small_config(), 43);
  EXPECT_EQ(a.at("model.layers.1.mlp.down_proj.weight").data, b.at("model.layers.1.mlp.down_proj.weight").data);
  EXPECT_NE(a.at("model.layers.1.mlp.down_proj.weight").data, c.at("model.layers.1.mlp.down_proj.weight").data);
  EXPECT_NE(a.at("model.layers.0.mlp.down_proj.weight").data, a.at("model.layers.1.mlp.down_proj.weight").data);
  const auto& e = a.at("model.embed_tokens.weight").data;
  double sum = 0, sq = 0;
  for (float v : e) {
    sum += v;
    sq += double(v) * v;
  }
  EXPECT_NEAR(sum / e.size(), 0.0, 0.005);
  EXPECT_NEAR(std::sqrt(sq / e.size()), 0.02, 0.002);
  EXPECT_EQ(a.at("model.norm.weight").data, std::vector<float>(16, 1.0f));
}

// A frozen random base must let adapters make tokens likely: its output
// projection is drawn at kLmHeadGain / sqrt(hidden); the other matrices at
// init_std. With lm_head at 0.02 no logit could exceed 0.02 * hidden.
TEST(RandomWeights, OutputProjectionWide) {
  auto c = small_config();
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.vocab_size = 512;
  const auto w = random_weights(c, 9);
  auto sample_std = [](const HostTensor& t) {
    double s = 0;
    for (float v : t.data) s += static_cast<double>(v) * v;
    return std::sqrt(s / static_cast<double>(t.data.size()));
  };
  EXPECT_NEAR(sample_std(w.tensors.at("lm_head.weight")), kLmHeadGain / 8.0, 0.05);
  EXPECT_NEAR(sample_std(w.tensors.at("model.embed_tokens.weight")), 0.02, 0.002);
}

}  // namespace
}  // namespace personas
