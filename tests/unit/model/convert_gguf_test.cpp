// personas convert --from gguf: the tiny random llama-arch GGUF written by
// tools/golden/make_gguf_fixtures.py (every quant type, SmolLM2's metadata)
// converts to exactly the values the python gguf package dequantizes (the
// fixture's per-tensor checksums), q/k un-permuted, q/k/v and gate/up fused,
// tokenizer and chat template kept; the checkpoint round-trips.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "core/errors.h"
#include "core/hash.h"
#include "model/checkpoint.h"
#include "model/convert.h"
#include "model/tokenizer.h"
#include "support/test_support.h"

namespace personas {
namespace {

using personas::testing::source_dir;
using personas::testing::TempDir;

std::filesystem::path fixture(const std::string& name) { return source_dir() / "tests/golden/fixtures/gguf" / name; }

nlohmann::json tiny_expectations() {
  std::ifstream in(fixture("tiny-llama.json"));
  return nlohmann::json::parse(in);
}

// The fixture's checksum: sum over i of mix64((i << 32) | bits(v_i)) mod 2^64, as 16 hex digits.
std::string values_checksum(const std::vector<float>& v) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &v[i], 4);
    total += mix64((static_cast<std::uint64_t>(i) << 32) | bits);
  }
  return fmt::format("{:016x}", total);
}

std::vector<float> rows(const HostTensor& t, std::int64_t row0, std::int64_t n_rows) {
  const std::int64_t cols = t.shape.back();
  return {t.data.begin() + row0 * cols, t.data.begin() + (row0 + n_rows) * cols};
}

// HF (half-split) rows back to the GGUF's interleaved order: HF row a*d/2 + j is GGUF row 2j + a.
std::vector<float> to_interleaved(const std::vector<float>& w, std::int64_t n_heads, std::int64_t head_dim,
                                  std::int64_t cols) {
  std::vector<float> out(w.size());
  const std::int64_t half = head_dim / 2;
  for (std::int64_t h = 0; h < n_heads; ++h)
    for (std::int64_t a = 0; a < 2; ++a)
      for (std::int64_t j = 0; j < half; ++j) {
        const std::int64_t hf = h * head_dim + a * half + j, gg = h * head_dim + 2 * j + a;
        std::copy_n(w.begin() + hf * cols, cols, out.begin() + gg * cols);
      }
  return out;
}

TEST(ConvertGguf, TinyLlamaGivesTheDequantizedValuesOfEveryQuantType) {
  const auto expected = tiny_expectations();
  const ConvertedModel m = convert_gguf(fixture("tiny-llama.gguf"));
  const Phi3Config& c = m.weights.config;
  const auto& ec = expected["config"];
  EXPECT_EQ(c.arch, ModelArch::llama);
  EXPECT_EQ(c.hidden_size, ec["hidden"].get<int>());
  EXPECT_EQ(c.num_hidden_layers, ec["n_layers"].get<int>());
  EXPECT_EQ(c.num_attention_heads, ec["n_heads"].get<int>());
  EXPECT_EQ(c.num_key_value_heads, ec["n_kv_heads"].get<int>());
  EXPECT_EQ(c.intermediate_size, ec["ffn"].get<int>());
  EXPECT_EQ(c.vocab_size, ec["vocab_size"].get<int>());
  EXPECT_EQ(c.max_position_embeddings, ec["context"].get<int>());
  EXPECT_DOUBLE_EQ(c.rope_theta, ec["rope_theta"].get<double>());
  EXPECT_NEAR(c.rms_norm_eps, ec["rms_eps"].get<double>(), 1e-12);
  EXPECT_TRUE(c.tie_word_embeddings);  // no output.weight

  const std::int64_t h = c.hidden_size, kv = c.kv_dim(), inter = c.intermediate_size, hd = c.head_dim();
  std::set<std::string> types;
  for (const auto& t : expected["tensors"]) {
    const std::string name = t["name"];
    types.insert(t["type"].get<std::string>());
    std::vector<float> ours;
    if (name == "token_embd.weight") {
      ours = m.weights.at("model.embed_tokens.weight").data;
    } else if (name == "output_norm.weight") {
      ours = m.weights.at("model.norm.weight").data;
    } else {
      ASSERT_EQ(name.rfind("blk.", 0), 0u) << name;
      const auto dot = name.find('.', 4);
      const std::string layer = name.substr(4, dot - 4), what = name.substr(dot + 1);
      const std::string p = "model.layers." + layer + ".";
      const auto& qkv = m.weights.at(p + "self_attn.qkv_proj.weight");
      const auto& gate_up = m.weights.at(p + "mlp.gate_up_proj.weight");
      if (what == "attn_norm.weight") ours = m.weights.at(p + "input_layernorm.weight").data;
      else if (what == "ffn_norm.weight") ours = m.weights.at(p + "post_attention_layernorm.weight").data;
      else if (what == "attn_q.weight") ours = to_interleaved(rows(qkv, 0, h), c.num_attention_heads, hd, h);
      else if (what == "attn_k.weight") ours = to_interleaved(rows(qkv, h, kv), c.num_key_value_heads, hd, h);
      else if (what == "attn_v.weight") ours = rows(qkv, h + kv, kv);
      else if (what == "attn_output.weight") ours = m.weights.at(p + "self_attn.o_proj.weight").data;
      else if (what == "ffn_gate.weight") ours = rows(gate_up, 0, inter);
      else if (what == "ffn_up.weight") ours = rows(gate_up, inter, inter);
      else if (what == "ffn_down.weight") ours = m.weights.at(p + "mlp.down_proj.weight").data;
      else FAIL() << "unmapped fixture tensor " << name;
    }
    EXPECT_EQ(values_checksum(ours), t["checksum"].get<std::string>()) << name << " (" << t["type"] << ")";
    for (const auto& sample : t["samples"])
      EXPECT_EQ(ours.at(sample["index"].get<std::size_t>()), sample["value"].get<float>()) << name;
  }
  // The fixture spreads its matrices over every quant type the reader knows.
  for (const char* type : {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"})
    EXPECT_TRUE(types.count(type)) << type;
}

TEST(ConvertGguf, KeepsTheByteLevelTokenizerAndChatTemplate) {
  const auto expected = tiny_expectations()["tokenizer"];
  const ConvertedModel m = convert_gguf(fixture("tiny-llama.gguf"));
  const TokenizerData& t = m.tokenizer;
  EXPECT_EQ(t.kind, TokenizerKind::byte_bpe);
  EXPECT_EQ(static_cast<int>(t.bpe.tokens.size()), expected["n_tokens"].get<int>());
  EXPECT_EQ(static_cast<int>(t.bpe.merges.size()), expected["n_merges"].get<int>());
  EXPECT_EQ(t.bpe.pre, expected["pre"].get<std::string>());
  EXPECT_EQ(t.bos_id, expected["bos"].get<int>());
  EXPECT_EQ(t.eos_id, expected["eos"].get<int>());
  EXPECT_EQ(t.pad_id, expected["pad"].get<int>());
  EXPECT_FALSE(t.add_bos);
  EXPECT_EQ(t.chat_template, ChatTemplate::chatml);
  EXPECT_EQ(t.chat_default_system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");

  const Tokenizer tok(t);
  const auto stops = tok.stop_ids();
  EXPECT_NE(std::find(stops.begin(), stops.end(), tok.piece_to_id("<|im_end|>")), stops.end());
  EXPECT_NE(std::find(stops.begin(), stops.end(), tok.piece_to_id("<|endoftext|>")), stops.end());
  const std::string prompt = tok.apply_chat_template({{"user", "the end"}}, true);
  const auto ids = tok.encode(prompt);
  EXPECT_EQ(ids.front(), tok.piece_to_id("<|im_start|>"));
  EXPECT_EQ(tok.decode(ids, /*skip_special=*/false), prompt);
}

TEST(ConvertGguf, CheckpointRoundTripKeepsArchitectureAndTokenizer) {
  const ConvertedModel m = convert_gguf(fixture("tiny-llama.gguf"));
  TempDir tmp;
  const auto path = tmp / "tiny.h5";
  save_checkpoint(path, m.weights, m.tokenizer, StorageDType::f32);
  const Checkpoint back = load_checkpoint(path);
  EXPECT_EQ(back.weights.config.arch, ModelArch::llama);
  EXPECT_EQ(back.weights.config.rope_theta, m.weights.config.rope_theta);
  for (const auto& [name, t] : m.weights.tensors) EXPECT_EQ(back.weights.at(name).data, t.data) << name;
  EXPECT_EQ(back.tokenizer.kind, TokenizerKind::byte_bpe);
  EXPECT_EQ(back.tokenizer.bpe.tokens, m.tokenizer.bpe.tokens);
  EXPECT_EQ(back.tokenizer.bpe.merges, m.tokenizer.bpe.merges);
  EXPECT_EQ(back.tokenizer.bpe.token_types, m.tokenizer.bpe.token_types);
  EXPECT_EQ(back.tokenizer.bpe.pre, m.tokenizer.bpe.pre);
  EXPECT_EQ(back.tokenizer.chat_template, ChatTemplate::chatml);
  EXPECT_EQ(back.tokenizer.chat_default_system, m.tokenizer.chat_default_system);
  EXPECT_EQ(back.tokenizer.add_bos, false);
  EXPECT_EQ(Tokenizer(back.tokenizer).encode("the end"), Tokenizer(m.tokenizer).encode("the end"));
}

// The fixture with one metadata string replaced by another of the same length.
std::filesystem::path patched_copy(const TempDir& tmp, const std::string& from, const std::string& to) {
  std::ifstream in(fixture("tiny-llama.gguf"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = bytes.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  bytes.replace(at, from.size(), to);
  const auto path = tmp / "patched.gguf";
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(ConvertGguf, RefusesOtherArchitecturesAndTokenizersByName) {
  TempDir tmp;
  auto expect_error = [](const std::filesystem::path& p, const std::string& needle) {
    try {
      convert_gguf(p);
      ADD_FAILURE() << "expected an error naming " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::data);
      EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
    }
  };
  // general.architecture is the first "llama" string value in the file.
  expect_error(patched_copy(tmp, std::string("\x05\0\0\0\0\0\0\0llama", 13), std::string("\x05\0\0\0\0\0\0\0gemma", 13)),
               "gemma");
  expect_error(patched_copy(tmp, "gpt2", "bert"), "bert");
  expect_error(fixture("quant-Q4_1.gguf"), "general.architecture");
}

}  // namespace
}  // namespace personas
