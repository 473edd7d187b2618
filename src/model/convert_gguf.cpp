// GGUF (llama.cpp's container) -> ModelWeights + TokenizerData. Weights are
// dequantized to fp32 on the way in (QLoRA-style: the frozen base is what the
// quantized file holds). Architectures: llama (SmolLM2, Llama-2/3 layouts)
// and phi3; anything else is refused by name.
#include <fmt/format.h>

#include <map>
#include <set>

#include "core/errors.h"
#include "core/log.h"
#include "io/gguf.h"
#include "model/convert.h"

namespace personas {

namespace {

struct GgufSource {
  const gguf::File& file;
  std::string arch;
  std::set<std::string> used;  // tensor names consumed

  std::string key(std::string_view suffix) const { return arch + "." + std::string(suffix); }
  std::int64_t int_key(std::string_view suffix) const { return file.get_int(key(suffix)); }
  std::int64_t int_key_or(std::string_view suffix, std::int64_t fallback) const {
    return file.has(key(suffix)) ? file.get_int(key(suffix)) : fallback;
  }
  double float_key_or(std::string_view suffix, double fallback) const {
    return file.has(key(suffix)) ? file.get_float(key(suffix)) : fallback;
  }

  // The tensor `name` dequantized, checked to be [rows][cols] (GGUF ne = (cols, rows)).
  std::vector<float> take(const std::string& name, std::int64_t rows, std::int64_t cols) {
    const gguf::TensorInfo* t = file.find_tensor(name);
    PERSONAS_CHECK(t != nullptr, data, "{}: tensor '{}' is missing", file.name(), name);
    const bool vector = rows == 1;
    const bool shape_ok = vector ? (t->ne.size() == 1 && t->ne[0] == cols)
                                 : (t->ne.size() == 2 && t->ne[0] == cols && t->ne[1] == rows);
    PERSONAS_CHECK(shape_ok, data, "{}: tensor '{}' has GGUF shape ({}), expected ({})", file.name(), name,
                   fmt::join(t->ne, ", "), vector ? fmt::format("{}", cols) : fmt::format("{}, {}", cols, rows));
    used.insert(name);
    return file.read_f32(*t);
  }
};

std::vector<float> concat(std::vector<float> a, const std::vector<float>& b, const std::vector<float>& c = {}) {
  a.reserve(a.size() + b.size() + c.size());
  a.insert(a.end(), b.begin(), b.end());
  a.insert(a.end(), c.begin(), c.end());
  return a;
}

Phi3Config gguf_config(const GgufSource& src, std::int64_t vocab_rows) {
  const std::string& where = src.file.name();
  Phi3Config c;
  c.arch = src.arch == "phi3" ? ModelArch::phi3 : ModelArch::llama;
  c.hidden_size = src.int_key("embedding_length");
  c.intermediate_size = src.int_key("feed_forward_length");
  c.num_hidden_layers = src.int_key("block_count");
  c.num_attention_heads = src.int_key("attention.head_count");
  c.num_key_value_heads = src.int_key_or("attention.head_count_kv", c.num_attention_heads);
  c.rope_theta = src.float_key_or("rope.freq_base", 10000.0);
  c.rms_norm_eps = src.float_key_or("attention.layer_norm_rms_epsilon", 1e-5);
  c.max_position_embeddings = src.int_key_or("context_length", 2048);
  c.sliding_window = src.int_key_or("attention.sliding_window", 0);
  c.vocab_size = vocab_rows;
  const std::int64_t declared_vocab = src.int_key_or("vocab_size", vocab_rows);
  PERSONAS_CHECK(declared_vocab == vocab_rows, data, "{}: {} = {} but token_embd.weight has {} rows", where,
                 src.key("vocab_size"), declared_vocab, vocab_rows);
  PERSONAS_CHECK(c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0, data,
                 "{}: {} {} is not a multiple of {} {}", where, src.key("embedding_length"), c.hidden_size,
                 src.key("attention.head_count"), c.num_attention_heads);
  const std::int64_t head_dim = c.hidden_size / c.num_attention_heads;
  for (const char* k : {"attention.key_length", "attention.value_length"})
    PERSONAS_CHECK(src.int_key_or(k, head_dim) == head_dim, data,
                   "{}: {} = {} differs from embedding_length / head_count = {} (an explicit head dim is not "
                   "supported)",
                   where, src.key(k), src.int_key_or(k, head_dim), head_dim);
  PERSONAS_CHECK(src.int_key_or("rope.dimension_count", head_dim) == head_dim, data,
                 "{}: {} = {} rotates part of each head (head dim {}); partial rotary is not supported", where,
                 src.key("rope.dimension_count"), src.int_key_or("rope.dimension_count", head_dim), head_dim);
  const std::string scaling_key = src.key("rope.scaling.type");
  PERSONAS_CHECK(!src.file.has(scaling_key) || src.file.get_string(scaling_key) == "none", data,
                 "{}: {} = '{}': rope scaling is not supported", where, scaling_key,
                 src.file.has(scaling_key) ? src.file.get_string(scaling_key) : "");
  c.tie_word_embeddings = src.file.find_tensor("output.weight") == nullptr;
  return c;
}

TokenizerData gguf_tokenizer(const gguf::File& file, std::int64_t vocab_rows) {
  const std::string& where = file.name();
  const std::string model = file.get_string("tokenizer.ggml.model");
  PERSONAS_CHECK_HINT(model == "gpt2", data,
                      "SentencePiece models convert from their Hugging Face folder: personas convert --from hf DIR",
                      "{}: tokenizer.ggml.model '{}' is not supported (only gpt2, byte-level BPE)", where, model);
  TokenizerData t;
  t.kind = TokenizerKind::byte_bpe;
  t.bpe.tokens = file.get_string_array("tokenizer.ggml.tokens");
  if (file.has("tokenizer.ggml.token_type")) {
    for (auto v : file.get_int_array("tokenizer.ggml.token_type")) t.bpe.token_types.push_back(static_cast<std::int32_t>(v));
  }
  t.bpe.merges = file.get_string_array("tokenizer.ggml.merges");
  if (file.has("tokenizer.ggml.pre")) {
    t.bpe.pre = file.get_string("tokenizer.ggml.pre");
  } else {
    plog::warn("{}: no tokenizer.ggml.pre; using the GPT-2 pre-tokenizer", where);
    t.bpe.pre = "gpt2";
  }
  PERSONAS_CHECK(static_cast<std::int64_t>(t.bpe.tokens.size()) <= vocab_rows, data,
                 "{}: tokenizer.ggml.tokens has {} tokens but token_embd.weight only {} rows", where,
                 t.bpe.tokens.size(), vocab_rows);
  auto id_or = [&](const char* key, std::int32_t fallback) {
    return file.has(key) ? static_cast<std::int32_t>(file.get_int(key)) : fallback;
  };
  t.eos_id = id_or("tokenizer.ggml.eos_token_id", -1);
  t.bos_id = id_or("tokenizer.ggml.bos_token_id", t.eos_id);
  t.pad_id = id_or("tokenizer.ggml.padding_token_id", -1);
  t.add_bos = file.has("tokenizer.ggml.add_bos_token") && file.get_bool("tokenizer.ggml.add_bos_token");
  if (file.has("tokenizer.chat_template")) {
    try {
      const auto recognized = recognize_chat_template(file.get_string("tokenizer.chat_template"),
                                                      where + ": tokenizer.chat_template");
      t.chat_template = recognized.kind;
      t.chat_default_system = recognized.default_system;
    } catch (const Error& e) {
      plog::warn("{}; the checkpoint keeps no template (set model.chat_template to use one)", e.message());
    }
  }
  Tokenizer check(t);  // validates the vocabulary, merges and pre-tokenizer now, naming the file
  return t;
}

}  // namespace

ConvertedModel convert_gguf(const fs::path& path) {
  const gguf::File file = gguf::File::open(path);
  const std::string where = file.name();
  GgufSource src{file, file.get_string("general.architecture"), {}};
  PERSONAS_CHECK_HINT(src.arch == "llama" || src.arch == "phi3", data,
                      "supported: llama (SmolLM2, Llama-2/3 layouts) and phi3",
                      "{}: general.architecture '{}' is not supported", where, src.arch);
  const gguf::TensorInfo* embed = file.find_tensor("token_embd.weight");
  PERSONAS_CHECK(embed != nullptr && embed->ne.size() == 2, data, "{}: no 2-D tensor token_embd.weight", where);

  ConvertedModel out;
  Phi3Config& c = out.weights.config;
  c = gguf_config(src, embed->ne[1]);
  out.tokenizer = gguf_tokenizer(file, c.vocab_size);
  c.bos_token_id = out.tokenizer.bos_id;
  c.eos_token_id = out.tokenizer.eos_id;
  c.pad_token_id = out.tokenizer.pad_id >= 0 ? out.tokenizer.pad_id : out.tokenizer.eos_id;
  c.validate(where);

  const std::int64_t h = c.hidden_size, inter = c.intermediate_size, kv = c.kv_dim(), hd = c.head_dim();
  auto& t = out.weights.tensors;
  t["model.embed_tokens.weight"] = HostTensor{{c.vocab_size, h}, src.take("token_embd.weight", c.vocab_size, h)};
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string g = "blk." + std::to_string(l) + ".";
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t[p + "input_layernorm.weight"] = HostTensor{{h}, src.take(g + "attn_norm.weight", 1, h)};
    t[p + "post_attention_layernorm.weight"] = HostTensor{{h}, src.take(g + "ffn_norm.weight", 1, h)};
    std::vector<float> qkv, gate_up;
    if (src.arch == "phi3") {  // fused as in HF Phi-3; NEOX RoPE, nothing permuted
      qkv = src.take(g + "attn_qkv.weight", h + 2 * kv, h);
      gate_up = src.take(g + "ffn_up.weight", 2 * inter, h);
    } else {  // llama: llama.cpp permuted q/k rows to adjacent RoPE pairs; undo it
      auto q = permute_interleaved_to_half(src.take(g + "attn_q.weight", h, h), c.num_attention_heads, hd, h);
      auto k = permute_interleaved_to_half(src.take(g + "attn_k.weight", kv, h), c.num_key_value_heads, hd, h);
      qkv = concat(std::move(q), k, src.take(g + "attn_v.weight", kv, h));
      gate_up = concat(src.take(g + "ffn_gate.weight", inter, h), src.take(g + "ffn_up.weight", inter, h));
    }
    t[p + "self_attn.qkv_proj.weight"] = HostTensor{{h + 2 * kv, h}, std::move(qkv)};
    t[p + "self_attn.o_proj.weight"] = HostTensor{{h, h}, src.take(g + "attn_output.weight", h, h)};
    t[p + "mlp.gate_up_proj.weight"] = HostTensor{{2 * inter, h}, std::move(gate_up)};
    t[p + "mlp.down_proj.weight"] = HostTensor{{h, inter}, src.take(g + "ffn_down.weight", h, inter)};
  }
  t["model.norm.weight"] = HostTensor{{h}, src.take("output_norm.weight", 1, h)};
  if (!c.tie_word_embeddings) t["lm_head.weight"] = HostTensor{{c.vocab_size, h}, src.take("output.weight", c.vocab_size, h)};

  std::vector<std::string> unexpected;
  for (const auto& info : file.tensors())
    if (!src.used.count(info.name)) unexpected.push_back(info.name);
  PERSONAS_CHECK_HINT(unexpected.empty(), data, "biases, rope factors and extra norms are not supported",
                      "{}: tensors this {} model does not use: {}", where, src.arch, fmt::join(unexpected, ", "));
  validate_weights(out.weights, where);

  std::map<std::string, int> types;
  for (const auto& info : file.tensors()) ++types[gguf::ggml_type_name(info.type)];
  std::string type_list;
  for (const auto& [name, n] : types) type_list += fmt::format("{}{} {}", type_list.empty() ? "" : ", ", name, n);
  plog::info("GGUF {}: {} '{}', hidden {}, {} layers, {} heads ({} kv), vocab {}, {} embeddings, rope theta {}, "
             "tensors {}, tokenizer {} ({} tokens, {} merges, pre {}), chat template {}",
             where, src.arch, file.has("general.name") ? file.get_string("general.name") : "", h,
             c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.vocab_size,
             c.tie_word_embeddings ? "tied" : "separate", c.rope_theta, type_list,
             tokenizer_kind_name(out.tokenizer.kind), out.tokenizer.bpe.tokens.size(), out.tokenizer.bpe.merges.size(),
             out.tokenizer.bpe.pre, chat_template_name(out.tokenizer.chat_template));
  return out;
}

}  // namespace personas
