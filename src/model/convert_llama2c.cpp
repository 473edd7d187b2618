#include <cstdlib>
#include <cstring>

#include "core/errors.h"
#include "core/log.h"
#include "model/convert.h"

namespace personas {

std::vector<float> permute_interleaved_to_half(const std::vector<float>& w, std::int64_t n_heads,
                                               std::int64_t head_dim, std::int64_t cols) {
  PERSONAS_ASSERT(static_cast<std::int64_t>(w.size()) == n_heads * head_dim * cols, "permute: {} values",
                  w.size());
  PERSONAS_ASSERT(head_dim % 2 == 0, "head_dim {} is odd", head_dim);
  std::vector<float> out(w.size());
  const std::int64_t half = head_dim / 2;
  for (std::int64_t h = 0; h < n_heads; ++h)
    for (std::int64_t i = 0; i < half; ++i)
      for (std::int64_t r = 0; r < 2; ++r) {
        const float* src = w.data() + (h * head_dim + 2 * i + r) * cols;
        float* dst = out.data() + (h * head_dim + r * half + i) * cols;
        std::memcpy(dst, src, static_cast<std::size_t>(cols) * sizeof(float));
      }
  return out;
}

namespace {

// Reads float32 tensors back to back, with bound checks on every step.
class Reader {
 public:
  Reader(const std::string& bytes, std::string where) : bytes_(bytes), where_(std::move(where)) {}
  std::vector<float> take(std::int64_t n, const char* what) {
    const std::uint64_t need = static_cast<std::uint64_t>(n) * 4;
    PERSONAS_CHECK(offset_ + need <= bytes_.size(), data,
                   "{}: the file ends inside {} (needs {} bytes at offset {}, file has {})", where_, what, need,
                   offset_, bytes_.size());
    std::vector<float> out(static_cast<std::size_t>(n));
    std::memcpy(out.data(), bytes_.data() + offset_, need);
    offset_ += need;
    return out;
  }
  void skip(std::int64_t n_floats) { offset_ += static_cast<std::uint64_t>(n_floats) * 4; }
  std::uint64_t offset() const { return offset_; }
  void set_offset(std::uint64_t o) { offset_ = o; }

 private:
  const std::string& bytes_;
  std::string where_;
  std::uint64_t offset_ = 0;
};

std::vector<float> slice_rows(const std::vector<float>& all, std::int64_t layer, std::int64_t per_layer) {
  return std::vector<float>(all.begin() + layer * per_layer, all.begin() + (layer + 1) * per_layer);
}

}  // namespace

ConvertedModel convert_llama2c(const fs::path& bin, const fs::path& tokenizer_model) {
  const std::string where = bin.string();
  const std::string bytes = read_file(bin);
  PERSONAS_CHECK(bytes.size() >= 28, data, "{}: {} bytes is too short for the 28-byte llama2.c header", where,
                 bytes.size());
  std::int32_t header[7];
  std::memcpy(header, bytes.data(), sizeof(header));
  const std::int64_t dim = header[0], hidden_dim = header[1], n_layers = header[2], n_heads = header[3],
                     n_kv_heads = header[4], signed_vocab = header[5], seq_len = header[6];
  const char* names[] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i)
    PERSONAS_CHECK(header[i] != 0 && (header[i] > 0 || i == 5), data,
                   "{}: header field {} = {} is not positive (is this a llama2.c v0 checkpoint?)", where, names[i],
                   header[i]);
  // Caps far above any llama2.c model, so the size arithmetic below cannot overflow on a hostile header.
  const std::int64_t caps[] = {1 << 16, 1 << 18, 1 << 10, 1 << 12, 1 << 12, 1 << 22, 1 << 20};
  for (int i = 0; i < 7; ++i)
    PERSONAS_CHECK(std::abs(static_cast<std::int64_t>(header[i])) <= caps[i], data,
                   "{}: header field {} = {} is implausibly large (limit {})", where, names[i], header[i], caps[i]);
  PERSONAS_CHECK(dim % n_heads == 0 && n_heads % n_kv_heads == 0, data,
                 "{}: header dim {}, n_heads {}, n_kv_heads {} are inconsistent", where, dim, n_heads, n_kv_heads);
  const bool shared_classifier = signed_vocab > 0;
  const std::int64_t vocab = shared_classifier ? signed_vocab : -signed_vocab;
  const std::int64_t head_dim = dim / n_heads, kv_dim = n_kv_heads * head_dim;

  // The whole size is known from the header: check it before reading.
  const std::int64_t n_floats = vocab * dim + n_layers * (2 * dim + dim * dim + 2 * kv_dim * dim + dim * dim +
                                                          3 * hidden_dim * dim) +
                                dim + seq_len * head_dim + (shared_classifier ? 0 : vocab * dim);
  const std::uint64_t expected = 28 + static_cast<std::uint64_t>(n_floats) * 4;
  PERSONAS_CHECK_HINT(bytes.size() == expected, data,
                      "only the llama2.c v0 float32 format (run.c) is read; export with legacy_export",
                      "{}: file has {} bytes but header {} {} {} {} {} {} {} implies {}", where, bytes.size(), dim,
                      hidden_dim, n_layers, n_heads, n_kv_heads, signed_vocab, seq_len, expected);

  Reader r(bytes, where);
  r.set_offset(28);
  auto embed = r.take(vocab * dim, "token_embedding_table");
  auto rms_att = r.take(n_layers * dim, "rms_att_weight");
  auto wq = r.take(n_layers * dim * dim, "wq");
  auto wk = r.take(n_layers * kv_dim * dim, "wk");
  auto wv = r.take(n_layers * kv_dim * dim, "wv");
  auto wo = r.take(n_layers * dim * dim, "wo");
  auto rms_ffn = r.take(n_layers * dim, "rms_ffn_weight");
  auto w1 = r.take(n_layers * hidden_dim * dim, "w1");
  auto w2 = r.take(n_layers * dim * hidden_dim, "w2");
  auto w3 = r.take(n_layers * hidden_dim * dim, "w3");
  auto rms_final = r.take(dim, "rms_final_weight");
  r.skip(seq_len * head_dim);  // the two obsolete RoPE tables (freq_cis_real/imag), seq_len * head_dim/2 each
  std::vector<float> classifier;
  if (!shared_classifier) classifier = r.take(vocab * dim, "wcls");

  ConvertedModel out;
  auto& c = out.weights.config;
  c.arch = ModelArch::llama;
  c.vocab_size = vocab;
  c.hidden_size = dim;
  c.intermediate_size = hidden_dim;
  c.num_hidden_layers = n_layers;
  c.num_attention_heads = n_heads;
  c.num_key_value_heads = n_kv_heads;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = seq_len;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  c.pad_token_id = 0;  // llama2.c has no pad token; <unk> (0) fills padded positions, which are masked
  c.sliding_window = 0;
  c.tie_word_embeddings = shared_classifier;
  c.validate(where);

  auto& t = out.weights.tensors;
  t["model.embed_tokens.weight"] = HostTensor{{vocab, dim}, std::move(embed)};
  for (std::int64_t l = 0; l < n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t[p + "input_layernorm.weight"] = HostTensor{{dim}, slice_rows(rms_att, l, dim)};
    t[p + "post_attention_layernorm.weight"] = HostTensor{{dim}, slice_rows(rms_ffn, l, dim)};
    auto q = permute_interleaved_to_half(slice_rows(wq, l, dim * dim), n_heads, head_dim, dim);
    auto k = permute_interleaved_to_half(slice_rows(wk, l, kv_dim * dim), n_kv_heads, head_dim, dim);
    auto v = slice_rows(wv, l, kv_dim * dim);
    std::vector<float> qkv;
    qkv.reserve(q.size() + k.size() + v.size());
    qkv.insert(qkv.end(), q.begin(), q.end());
    qkv.insert(qkv.end(), k.begin(), k.end());
    qkv.insert(qkv.end(), v.begin(), v.end());
    t[p + "self_attn.qkv_proj.weight"] = HostTensor{{dim + 2 * kv_dim, dim}, std::move(qkv)};
    t[p + "self_attn.o_proj.weight"] = HostTensor{{dim, dim}, slice_rows(wo, l, dim * dim)};
    auto gate = slice_rows(w1, l, hidden_dim * dim);
    auto up = slice_rows(w3, l, hidden_dim * dim);
    gate.insert(gate.end(), up.begin(), up.end());
    t[p + "mlp.gate_up_proj.weight"] = HostTensor{{2 * hidden_dim, dim}, std::move(gate)};
    t[p + "mlp.down_proj.weight"] = HostTensor{{dim, hidden_dim}, slice_rows(w2, l, dim * hidden_dim)};
  }
  t["model.norm.weight"] = HostTensor{{dim}, std::move(rms_final)};
  if (!shared_classifier) t["lm_head.weight"] = HostTensor{{vocab, dim}, std::move(classifier)};
  validate_weights(out.weights, where);

  Tokenizer tokenizer = Tokenizer::from_model_file(tokenizer_model, /*phi3=*/false);
  PERSONAS_CHECK(tokenizer.vocab_size() <= vocab, data, "{}: tokenizer has {} pieces but the model only {} rows",
                 tokenizer_model.string(), tokenizer.vocab_size(), vocab);
  out.tokenizer = tokenizer.data();
  out.tokenizer.bos_id = static_cast<std::int32_t>(c.bos_token_id);
  out.tokenizer.eos_id = static_cast<std::int32_t>(c.eos_token_id);
  out.tokenizer.pad_id = -1;
  plog::info("llama2.c {}: dim {}, {} layers, {} heads ({} kv), vocab {}, {} classifier", where, dim, n_layers,
             n_heads, n_kv_heads, vocab, shared_classifier ? "shared" : "separate");
  return out;
}

}  // namespace personas
