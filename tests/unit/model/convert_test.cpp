#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "core/errors.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/convert.h"
#include "support/test_support.h"

namespace personas {
namespace {

struct L2cHeader {
  std::int32_t dim, hidden, layers, heads, kv_heads, vocab, seq;
};

// Writes a llama2.c v0 file whose float k (counting from the first tensor) is
// value(k), so every weight is identifiable after conversion.
float value(std::int64_t k) { return static_cast<float>(k % 9973) * 1e-3f - 4.0f + static_cast<float>(k) * 1e-7f; }

std::vector<float> write_llama2c(const fs::path& path, const L2cHeader& h) {
  const std::int64_t dim = h.dim, hd = h.dim / h.heads, kv = h.kv_heads * hd, vocab = std::abs(h.vocab);
  const std::int64_t n = vocab * dim + h.layers * (2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * h.hidden * dim) + dim +
                         h.seq * hd + (h.vocab < 0 ? vocab * dim : 0);
  std::vector<float> floats(static_cast<std::size_t>(n));
  for (std::int64_t k = 0; k < n; ++k) floats[k] = value(k);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&h), sizeof(h));
  out.write(reinterpret_cast<const char*>(floats.data()), static_cast<std::streamsize>(floats.size() * 4));
  return floats;
}

fs::path small_tokenizer(const testing::TempDir& dir) {
  {
    std::ofstream out(dir / "corpus.txt");
    for (int i = 0; i < 50; ++i) out << "once upon a time a little model rated movie " << i << "\n";
  }
  SentencePieceTrainOptions options;
  options.vocab_size = 300;
  write_file_atomic(dir / "tok.model", train_sentencepiece(dir / "corpus.txt", options));
  return dir / "tok.model";
}

// Interleaved RoPE (llama2.c): pairs (2i, 2i+1), frequency theta^(-2i/d).
std::vector<double> rope_interleaved(std::vector<double> x, int pos, int d) {
  for (int i = 0; i < d / 2; ++i) {
    const double a = pos * std::pow(10000.0, -2.0 * i / d), c = std::cos(a), s = std::sin(a);
    const double x0 = x[2 * i], x1 = x[2 * i + 1];
    x[2 * i] = x0 * c - x1 * s;
    x[2 * i + 1] = x0 * s + x1 * c;
  }
  return x;
}
// Half-split RoPE (Hugging Face): pairs (i, i + d/2), same frequencies.
std::vector<double> rope_half(std::vector<double> x, int pos, int d) {
  for (int i = 0; i < d / 2; ++i) {
    const double a = pos * std::pow(10000.0, -2.0 * i / d), c = std::cos(a), s = std::sin(a);
    const double x0 = x[i], x1 = x[i + d / 2];
    x[i] = x0 * c - x1 * s;
    x[i + d / 2] = x0 * s + x1 * c;
  }
  return x;
}

TEST(ConvertLlama2c, PermutationMakesHalfSplitRopeEqualInterleavedRope) {
  // q . k after RoPE is what attention sees: it must not change.
  const int d = 8, heads = 2;
  std::vector<float> w(heads * d * 3);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.7 * i + 0.1);
  auto p = permute_interleaved_to_half(w, heads, d, 3);
  const std::vector<double> x = {0.3, -1.2, 0.8};
  for (int h = 0; h < heads; ++h) {
    std::vector<double> orig(d), perm(d);
    for (int r = 0; r < d; ++r)
      for (int c = 0; c < 3; ++c) {
        orig[r] += w[(h * d + r) * 3 + c] * x[c];
        perm[r] += p[(h * d + r) * 3 + c] * x[c];
      }
    for (int pos : {0, 1, 5, 17}) {
      auto a = rope_interleaved(orig, pos, d);
      auto b = rope_half(perm, pos, d);
      // b is a with the rows of each head regrouped: b[r*d/2 + i] = a[2i + r].
      for (int i = 0; i < d / 2; ++i)
        for (int r = 0; r < 2; ++r) EXPECT_NEAR(b[r * d / 2 + i], a[2 * i + r], 1e-12);
    }
  }
}

TEST(ConvertLlama2c, SyntheticFileHasTheExactLayout) {
  testing::TempDir dir;
  const L2cHeader h{8, 12, 2, 2, 1, 320, 4};  // head dim 4, kv dim 4, shared classifier
  auto f = write_llama2c(dir / "m.bin", h);
  auto model = convert_llama2c(dir / "m.bin", small_tokenizer(dir));
  const auto& c = model.weights.config;
  EXPECT_EQ(c.hidden_size, 8);
  EXPECT_EQ(c.intermediate_size, 12);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_EQ(c.vocab_size, 320);
  EXPECT_EQ(c.max_position_embeddings, 4);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(model.weights.tensors.count("lm_head.weight"), 0u);

  const std::int64_t dim = 8, hd = 4, kv = 4, hidden = 12, L = 2, V = 320;
  std::int64_t off = 0;
  auto at = [&](std::int64_t k) { return f[static_cast<std::size_t>(k)]; };
  EXPECT_EQ(model.weights.at("model.embed_tokens.weight").data[5 * dim + 3], at(5 * dim + 3));
  off = V * dim;
  const std::int64_t rms_att = off, wq = rms_att + L * dim, wk = wq + L * dim * dim, wv = wk + L * kv * dim,
                     wo = wv + L * kv * dim, rms_ffn = wo + L * dim * dim, w1 = rms_ffn + L * dim,
                     w2 = w1 + L * hidden * dim, w3 = w2 + L * dim * hidden, rms_final = w3 + L * hidden * dim;
  for (std::int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const auto& qkv = model.weights.at(p + "self_attn.qkv_proj.weight");
    ASSERT_EQ(qkv.shape, (std::vector<std::int64_t>{dim + 2 * kv, dim}));
    for (std::int64_t col = 0; col < dim; ++col) {
      for (std::int64_t head = 0; head < 2; ++head)
        for (std::int64_t i = 0; i < hd / 2; ++i)
          for (std::int64_t r = 0; r < 2; ++r) {
            // q: HF row head*hd + r*hd/2 + i  <-  llama2.c row head*hd + 2i + r
            EXPECT_EQ(qkv.data[(head * hd + r * hd / 2 + i) * dim + col],
                      at(wq + l * dim * dim + (head * hd + 2 * i + r) * dim + col));
          }
      for (std::int64_t i = 0; i < hd / 2; ++i)
        for (std::int64_t r = 0; r < 2; ++r)
          EXPECT_EQ(qkv.data[(dim + r * hd / 2 + i) * dim + col], at(wk + l * kv * dim + (2 * i + r) * dim + col));
      for (std::int64_t row = 0; row < kv; ++row)  // v is not permuted
        EXPECT_EQ(qkv.data[(dim + kv + row) * dim + col], at(wv + l * kv * dim + row * dim + col));
    }
    const auto& gu = model.weights.at(p + "mlp.gate_up_proj.weight");
    ASSERT_EQ(gu.shape, (std::vector<std::int64_t>{2 * hidden, dim}));
    EXPECT_EQ(gu.data[3 * dim + 2], at(w1 + l * hidden * dim + 3 * dim + 2));
    EXPECT_EQ(gu.data[(hidden + 3) * dim + 2], at(w3 + l * hidden * dim + 3 * dim + 2));
    EXPECT_EQ(model.weights.at(p + "mlp.down_proj.weight").data[7], at(w2 + l * dim * hidden + 7));
    EXPECT_EQ(model.weights.at(p + "self_attn.o_proj.weight").data[9], at(wo + l * dim * dim + 9));
    EXPECT_EQ(model.weights.at(p + "input_layernorm.weight").data[1], at(rms_att + l * dim + 1));
    EXPECT_EQ(model.weights.at(p + "post_attention_layernorm.weight").data[1], at(rms_ffn + l * dim + 1));
  }
  EXPECT_EQ(model.weights.at("model.norm.weight").data[7], at(rms_final + 7));

  // Separate classifier (negative vocab) comes after the RoPE tables.
  const L2cHeader h2{8, 12, 2, 2, 1, -320, 4};
  auto f2 = write_llama2c(dir / "m2.bin", h2);
  auto model2 = convert_llama2c(dir / "m2.bin", dir / "tok.model");
  EXPECT_FALSE(model2.weights.config.tie_word_embeddings);
  const std::int64_t wcls = rms_final + dim + 4 * hd;
  EXPECT_EQ(model2.weights.at("lm_head.weight").data[11], f2[wcls + 11]);

  // A truncated file is refused with the sizes.
  auto bytes = read_file(dir / "m.bin");
  write_file_atomic(dir / "short.bin", bytes.substr(0, bytes.size() - 4));
  try {
    convert_llama2c(dir / "short.bin", dir / "tok.model");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("implies"), std::string::npos) << e.message();
  }
}

TEST(ConvertLlama2c, Stories260K) {
  PERSONAS_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  PERSONAS_REQUIRE_DATA(tok, "stories260K/tok512.model");
  auto model = convert_llama2c(bin, tok);
  const auto& c = model.weights.config;
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.num_hidden_layers, 5);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(model.weights.at("model.layers.4.self_attn.qkv_proj.weight").shape,
            (std::vector<std::int64_t>{128, 64}));
  testing::TempDir dir;
  save_checkpoint(dir / "s.h5", model.weights, model.tokenizer, StorageDType::f32);
  auto ck = load_checkpoint(dir / "s.h5");
  EXPECT_EQ(ck.weights.at("model.layers.2.mlp.gate_up_proj.weight").data,
            model.weights.at("model.layers.2.mlp.gate_up_proj.weight").data);
  Tokenizer t(ck.tokenizer);
  EXPECT_EQ(t.vocab_size(), 512);
  EXPECT_EQ(t.decode(std::vector<std::int32_t>{403, 407, 261}), t.decode(t.encode(t.decode(std::vector<std::int32_t>{403, 407, 261}))));
}

TEST(ConvertHf, GoldenTinyPhi3) {
  const auto dir = testing::source_dir() / "tests" / "golden" / "fixtures" / "tiny_phi3";
  auto model = convert_hf(dir);
  const auto& c = model.weights.config;
  EXPECT_EQ(c.vocab_size, 128);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_TRUE(model.tokenizer.model_bytes.empty());
  safetensors::File f(dir / "model.safetensors");
  for (const auto& [name, info] : f.tensors()) EXPECT_EQ(model.weights.at(name).data, f.read_f32(name)) << name;
  testing::TempDir tmp;
  save_checkpoint(tmp / "m.h5", model.weights, model.tokenizer, StorageDType::f32);
  EXPECT_EQ(load_checkpoint(tmp / "m.h5").weights.at("lm_head.weight").data, f.read_f32("lm_head.weight"));
}

TEST(ConvertHf, LlamaLayoutIsFusedAndShardsAreRead) {
  testing::TempDir dir;
  write_file_atomic(dir / "config.json", R"({"model_type":"llama","vocab_size":10,"hidden_size":4,
    "intermediate_size":6,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,
    "max_position_embeddings":16,"rms_norm_eps":1e-6,"rope_theta":500000.0,"bos_token_id":1,
    "eos_token_id":[2,3],"pad_token_id":null,"tie_word_embeddings":true,"hidden_act":"silu"})");
  auto fill = [](std::int64_t n, float base) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) v[i] = base + static_cast<float>(i);
    return v;
  };
  namespace st = safetensors;
  const std::string p = "model.layers.0.";
  st::write_file(dir / "a.safetensors",
                 {{"model.embed_tokens.weight", st::DType::F32, {10, 4}, fill(40, 0)},
                  {p + "self_attn.q_proj.weight", st::DType::BF16, {4, 4}, fill(16, 100)},
                  {p + "self_attn.k_proj.weight", st::DType::F32, {2, 4}, fill(8, 200)},
                  {p + "self_attn.v_proj.weight", st::DType::F16, {2, 4}, fill(8, 300)},
                  {"model.layers.0.self_attn.rotary_emb.inv_freq", st::DType::F32, {1}, {1}}});
  st::write_file(dir / "b.safetensors",
                 {{p + "self_attn.o_proj.weight", st::DType::F32, {4, 4}, fill(16, 400)},
                  {p + "mlp.gate_proj.weight", st::DType::F32, {6, 4}, fill(24, 500)},
                  {p + "mlp.up_proj.weight", st::DType::F32, {6, 4}, fill(24, 600)},
                  {p + "mlp.down_proj.weight", st::DType::F32, {4, 6}, fill(24, 700)},
                  {p + "input_layernorm.weight", st::DType::F32, {4}, fill(4, 1)},
                  {p + "post_attention_layernorm.weight", st::DType::F32, {4}, fill(4, 2)},
                  {"model.norm.weight", st::DType::F32, {4}, fill(4, 3)}});
  std::string index = R"({"weight_map":{)";
  for (auto* n : {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                  "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight",
                  "model.layers.0.self_attn.rotary_emb.inv_freq"})
    index += std::string("\"") + n + "\":\"a.safetensors\",";
  for (auto* n : {"model.layers.0.self_attn.o_proj.weight", "model.layers.0.mlp.gate_proj.weight",
                  "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
                  "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight"})
    index += std::string("\"") + n + "\":\"b.safetensors\",";
  index += R"("model.norm.weight":"b.safetensors"}})";
  write_file_atomic(dir / "model.safetensors.index.json", index);
  auto model = convert_hf(dir.path());
  EXPECT_EQ(model.weights.config.eos_token_id, 2);
  EXPECT_EQ(model.weights.config.pad_token_id, 2);
  EXPECT_EQ(model.weights.config.rope_theta, 500000.0);
  EXPECT_TRUE(model.weights.config.tie_word_embeddings);
  const auto& qkv = model.weights.at(p + "self_attn.qkv_proj.weight");
  ASSERT_EQ(qkv.shape, (std::vector<std::int64_t>{8, 4}));
  EXPECT_EQ(qkv.data[0], 100.0f);
  EXPECT_EQ(qkv.data[16], 200.0f);
  EXPECT_EQ(qkv.data[31], 307.0f);
  const auto& gu = model.weights.at(p + "mlp.gate_up_proj.weight");
  EXPECT_EQ(gu.data[0], 500.0f);
  EXPECT_EQ(gu.data[24], 600.0f);

  // An unknown tensor is named.
  st::write_file(dir / "b.safetensors",
                 {{p + "self_attn.o_proj.weight", st::DType::F32, {4, 4}, fill(16, 400)},
                  {p + "mlp.gate_proj.weight", st::DType::F32, {6, 4}, fill(24, 500)},
                  {p + "mlp.up_proj.weight", st::DType::F32, {6, 4}, fill(24, 600)},
                  {p + "mlp.down_proj.weight", st::DType::F32, {4, 6}, fill(24, 700)},
                  {p + "input_layernorm.weight", st::DType::F32, {4}, fill(4, 1)},
                  {p + "post_attention_layernorm.weight", st::DType::F32, {4}, fill(4, 2)},
                  {"model.norm.weight", st::DType::F32, {4}, fill(4, 3)},
                  {"model.layers.0.self_attn.q_norm.weight", st::DType::F32, {4}, fill(4, 3)}});
  index.insert(index.size() - 2, R"(,"model.layers.0.self_attn.q_norm.weight":"b.safetensors")");
  write_file_atomic(dir / "model.safetensors.index.json", index);
  try {
    convert_hf(dir.path());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("q_norm"), std::string::npos) << e.message();
  }
}

TEST(ConvertHf, Phi3TokenizerFilesGiveAddedTokensAndChatTemplate) {
  PERSONAS_REQUIRE_DATA(tok_dir, "phi3-mini-4k-instruct");
  testing::TempDir dir;
  for (auto* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(tok_dir / f, dir / f);
  write_file_atomic(dir / "config.json", R"({"model_type":"phi3","vocab_size":32064,"hidden_size":8,
    "intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":2,
    "max_position_embeddings":64,"bos_token_id":1,"eos_token_id":32000,"pad_token_id":32000,
    "sliding_window":2047,"rope_scaling":null,"tie_word_embeddings":false})");
  Phi3Config c = phi3_config_from_hf_json(read_file(dir / "config.json"), "config.json");
  std::vector<safetensors::WriteTensor> tensors;
  for (const auto& spec : expected_tensors(c)) {
    std::int64_t n = 1;
    for (auto d : spec.shape) n *= d;
    tensors.push_back({spec.name, safetensors::DType::BF16, spec.shape, std::vector<float>(n, 0.5f)});
  }
  safetensors::write_file(dir / "model.safetensors", tensors);
  auto model = convert_hf(dir.path());
  EXPECT_EQ(model.weights.config.sliding_window, 2047);
  EXPECT_EQ(model.tokenizer.chat_template, ChatTemplate::phi3);
  ASSERT_EQ(model.tokenizer.added_tokens.size(), 11u);
  Tokenizer tok(model.tokenizer);
  EXPECT_EQ(tok.eos_id(), 32000);
  EXPECT_EQ(tok.encode("<|user|>\nHello world<|end|>\n<|assistant|>\n"),
            (std::vector<std::int32_t>{32010, 15043, 3186, 32007, 32001}));
  // The same as the built-in Phi-3 table.
  auto builtin = phi3_tokenizer_data(model.tokenizer.model_bytes);
  for (std::size_t i = 0; i < builtin.added_tokens.size(); ++i) {
    EXPECT_EQ(model.tokenizer.added_tokens[i].id, builtin.added_tokens[i].id);
    EXPECT_EQ(model.tokenizer.added_tokens[i].content, builtin.added_tokens[i].content);
    EXPECT_EQ(model.tokenizer.added_tokens[i].rstrip, builtin.added_tokens[i].rstrip);
  }
  EXPECT_EQ(model.weights.at("model.norm.weight").data[0], 0.5f);
}

TEST(ConvertHf, ConfigRefusesWhatWeDoNotImplement) {
  EXPECT_THROW(phi3_config_from_hf_json(R"({"model_type":"gpt2"})", "c.json"), Error);
  EXPECT_THROW(phi3_config_from_hf_json(R"({"model_type":"phi3","rope_scaling":{"type":"longrope"}})", "c.json"),
               Error);
  EXPECT_THROW(phi3_config_from_hf_json(R"({"model_type":"phi3","hidden_act":"gelu"})", "c.json"), Error);
  EXPECT_THROW(phi3_config_from_hf_json("{not json", "c.json"), Error);
  auto c = phi3_config_from_hf_json(R"({"model_type":"phi3","sliding_window":2047,"num_key_value_heads":null})",
                                    "c.json");
  EXPECT_EQ(c.sliding_window, 2047);
  EXPECT_EQ(c.num_key_value_heads, 32);
  EXPECT_EQ(c.vocab_size, 32064);
}

}  // namespace
}  // namespace personas
