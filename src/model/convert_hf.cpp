#include <nlohmann/json.hpp>

#include <set>

#include <fmt/ranges.h>

#include "core/errors.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "model/convert.h"

namespace personas {

namespace {

using nlohmann::json;

json parse_json_file(const fs::path& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    PERSONAS_FAIL(data, "{}: not valid JSON: {}", path.string(), e.what());
  }
}

std::int64_t int_field(const json& j, const char* key, std::int64_t fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const auto& v = j[key];
  if (v.is_array()) {  // e.g. eos_token_id: [32000, 32001, 32007]
    PERSONAS_CHECK(!v.empty() && v[0].is_number_integer(), data, "{}: '{}' is not an integer list", where, key);
    return v[0].get<std::int64_t>();
  }
  PERSONAS_CHECK(v.is_number_integer(), data, "{}: '{}' is not an integer ({})", where, key, v.dump());
  return v.get<std::int64_t>();
}

double number_field(const json& j, const char* key, double fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  PERSONAS_CHECK(j[key].is_number(), data, "{}: '{}' is not a number ({})", where, key, j[key].dump());
  return j[key].get<double>();
}

// Reads one tensor, checking its shape.
std::vector<float> read_tensor(const safetensors::ModelFolder& folder, const std::string& name,
                               const std::vector<std::int64_t>& shape, const std::string& where) {
  PERSONAS_CHECK(folder.contains(name), data, "{}: tensor '{}' is missing", where, name);
  const auto& info = folder.info(name);
  PERSONAS_CHECK(info.shape == shape, data, "{}: tensor '{}' has shape [{}], expected [{}]", where, name,
                 fmt::join(info.shape, ", "), fmt::join(shape, ", "));
  return folder.read_f32(name);
}

std::vector<float> concat(std::vector<float> a, const std::vector<float>& b, const std::vector<float>& c = {}) {
  a.insert(a.end(), b.begin(), b.end());
  a.insert(a.end(), c.begin(), c.end());
  return a;
}

// Added tokens beyond the SentencePiece pieces, from tokenizer.json or
// tokenizer_config.json's added_tokens_decoder.
std::vector<AddedToken> read_added_tokens(const fs::path& dir, int n_pieces) {
  std::vector<AddedToken> out;
  auto add = [&](std::int64_t id, const json& t) {
    if (id < n_pieces) return;  // <unk>, <s>, </s> are SentencePiece's own
    out.push_back(AddedToken{static_cast<std::int32_t>(id), t.value("content", std::string()), t.value("lstrip", false),
                             t.value("rstrip", false), t.value("special", true)});
  };
  if (fs::exists(dir / "tokenizer.json")) {
    auto j = parse_json_file(dir / "tokenizer.json");
    if (j.contains("added_tokens") && j["added_tokens"].is_array())
      for (const auto& t : j["added_tokens"]) add(t.value("id", std::int64_t{-1}), t);
  } else if (fs::exists(dir / "tokenizer_config.json")) {
    auto j = parse_json_file(dir / "tokenizer_config.json");
    if (j.contains("added_tokens_decoder") && j["added_tokens_decoder"].is_object())
      for (const auto& [id, t] : j["added_tokens_decoder"].items()) add(std::stoll(id), t);
  }
  return out;
}

}  // namespace

Phi3Config phi3_config_from_hf_json(const std::string& json_text, const std::string& where) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    PERSONAS_FAIL(data, "{}: not valid JSON: {}", where, e.what());
  }
  PERSONAS_CHECK(j.is_object(), data, "{}: not a JSON object", where);
  const std::string model_type = j.value("model_type", std::string());
  PERSONAS_CHECK_HINT(model_type == "phi3" || model_type == "llama" || model_type == "mistral", data,
                      "phi3 is the target; llama and mistral share its block and are fused on the way",
                      "{}: model_type '{}' is not supported", where, model_type);
  const std::string act = j.value("hidden_act", std::string("silu"));
  PERSONAS_CHECK(act == "silu", data, "{}: hidden_act '{}' is not supported (only silu)", where, act);
  PERSONAS_CHECK_HINT(!j.contains("rope_scaling") || j["rope_scaling"].is_null(), data,
                      "the 4k-context Phi-3 models have rope_scaling null; the 128k (longrope) ones are not supported",
                      "{}: rope_scaling {} is not supported", where,
                      j.contains("rope_scaling") ? j["rope_scaling"].dump() : "");
  PERSONAS_CHECK(!j.contains("attention_bias") || !j["attention_bias"].is_boolean() || !j["attention_bias"].get<bool>(),
                 data, "{}: attention_bias true is not supported", where);
  Phi3Config c;
  c.arch = model_type == "phi3" ? ModelArch::phi3 : ModelArch::llama;  // mistral is llama's block
  c.vocab_size = int_field(j, "vocab_size", c.vocab_size, where);
  c.hidden_size = int_field(j, "hidden_size", c.hidden_size, where);
  c.intermediate_size = int_field(j, "intermediate_size", c.intermediate_size, where);
  c.num_hidden_layers = int_field(j, "num_hidden_layers", c.num_hidden_layers, where);
  c.num_attention_heads = int_field(j, "num_attention_heads", c.num_attention_heads, where);
  c.num_key_value_heads = int_field(j, "num_key_value_heads", c.num_attention_heads, where);
  c.rope_theta = number_field(j, "rope_theta", 10000.0, where);
  c.rms_norm_eps = number_field(j, "rms_norm_eps", 1e-5, where);
  c.max_position_embeddings = int_field(j, "max_position_embeddings", c.max_position_embeddings, where);
  c.bos_token_id = int_field(j, "bos_token_id", c.bos_token_id, where);
  c.eos_token_id = int_field(j, "eos_token_id", c.eos_token_id, where);
  c.pad_token_id = int_field(j, "pad_token_id", c.eos_token_id, where);
  c.sliding_window = int_field(j, "sliding_window", 0, where);  // null = none
  c.tie_word_embeddings = j.contains("tie_word_embeddings") && j["tie_word_embeddings"].is_boolean()
                              ? j["tie_word_embeddings"].get<bool>()
                              : false;
  c.partial_rotary_factor = number_field(j, "partial_rotary_factor", 1.0, where);
  if (j.contains("head_dim") && !j["head_dim"].is_null())
    PERSONAS_CHECK(int_field(j, "head_dim", 0, where) == c.head_dim(), data,
                   "{}: head_dim {} differs from hidden_size / num_attention_heads = {}", where,
                   int_field(j, "head_dim", 0, where), c.head_dim());
  c.validate(where);
  return c;
}

ConvertedModel convert_hf(const fs::path& dir, const std::optional<fs::path>& tokenizer_model) {
  const std::string where = dir.string();
  PERSONAS_CHECK(fs::is_directory(dir), io, "'{}' is not a Hugging Face model folder", where);
  PERSONAS_CHECK(fs::exists(dir / "config.json"), io, "{}: config.json is missing", where);
  ConvertedModel out;
  auto& c = out.weights.config;
  c = phi3_config_from_hf_json(read_file(dir / "config.json"), (dir / "config.json").string());
  safetensors::ModelFolder folder(dir);

  const std::int64_t h = c.hidden_size, kv = c.kv_dim(), inter = c.intermediate_size;
  auto& t = out.weights.tensors;
  std::set<std::string> used;
  auto take = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
    used.insert(name);
    return read_tensor(folder, name, shape, where);
  };
  t["model.embed_tokens.weight"] = HostTensor{{c.vocab_size, h}, take("model.embed_tokens.weight", {c.vocab_size, h})};
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t[p + "input_layernorm.weight"] = HostTensor{{h}, take(p + "input_layernorm.weight", {h})};
    t[p + "post_attention_layernorm.weight"] = HostTensor{{h}, take(p + "post_attention_layernorm.weight", {h})};
    if (folder.contains(p + "self_attn.qkv_proj.weight")) {
      t[p + "self_attn.qkv_proj.weight"] =
          HostTensor{{h + 2 * kv, h}, take(p + "self_attn.qkv_proj.weight", {h + 2 * kv, h})};
    } else {  // Llama layout: fuse q, k, v (both use the half-split RoPE, no permutation)
      auto q = take(p + "self_attn.q_proj.weight", {h, h});
      auto k = take(p + "self_attn.k_proj.weight", {kv, h});
      auto v = take(p + "self_attn.v_proj.weight", {kv, h});
      t[p + "self_attn.qkv_proj.weight"] = HostTensor{{h + 2 * kv, h}, concat(std::move(q), k, v)};
    }
    t[p + "self_attn.o_proj.weight"] = HostTensor{{h, h}, take(p + "self_attn.o_proj.weight", {h, h})};
    if (folder.contains(p + "mlp.gate_up_proj.weight")) {
      t[p + "mlp.gate_up_proj.weight"] =
          HostTensor{{2 * inter, h}, take(p + "mlp.gate_up_proj.weight", {2 * inter, h})};
    } else {
      auto gate = take(p + "mlp.gate_proj.weight", {inter, h});
      auto up = take(p + "mlp.up_proj.weight", {inter, h});
      t[p + "mlp.gate_up_proj.weight"] = HostTensor{{2 * inter, h}, concat(std::move(gate), up)};
    }
    t[p + "mlp.down_proj.weight"] = HostTensor{{h, inter}, take(p + "mlp.down_proj.weight", {h, inter})};
  }
  t["model.norm.weight"] = HostTensor{{h}, take("model.norm.weight", {h})};
  if (!c.tie_word_embeddings) {
    t["lm_head.weight"] = HostTensor{{c.vocab_size, h}, take("lm_head.weight", {c.vocab_size, h})};
  }
  std::vector<std::string> unexpected;
  for (const auto& name : folder.names())
    if (!used.count(name) && name.find("rotary_emb.inv_freq") == std::string::npos &&
        !(c.tie_word_embeddings && name == "lm_head.weight"))
      unexpected.push_back(name);
  PERSONAS_CHECK(unexpected.empty(), data, "{}: unexpected tensors (not a plain {}-layer model?): {}", where,
                 c.num_hidden_layers, fmt::join(unexpected, ", "));
  validate_weights(out.weights, where);

  // The chat template of tokenizer_config.json, recognised (an unknown one is kept as none, with a warning).
  auto read_template = [&](TokenizerData& data) {
    if (!fs::exists(dir / "tokenizer_config.json")) return;
    auto j = parse_json_file(dir / "tokenizer_config.json");
    const std::string tmpl = j.contains("chat_template") && j["chat_template"].is_string()
                                 ? j["chat_template"].get<std::string>()
                                 : std::string();
    try {
      const auto recognized = recognize_chat_template(tmpl, (dir / "tokenizer_config.json").string() + ": chat_template");
      data.chat_template = recognized.kind;
      data.chat_default_system = recognized.default_system;
    } catch (const Error& e) {
      plog::warn("{}; the checkpoint keeps no template (plain prompts, or set model.chat_template)", e.message());
    }
  };
  auto finish = [&](TokenizerData data) {
    read_template(data);
    data.bos_id = static_cast<std::int32_t>(c.bos_token_id);
    data.eos_id = static_cast<std::int32_t>(c.eos_token_id);
    data.pad_id = static_cast<std::int32_t>(c.pad_token_id);
    Tokenizer check(data);
    PERSONAS_CHECK(check.vocab_size() <= c.vocab_size, data,
                   "{}: the tokenizer has {} tokens but the model's embedding only {} rows", where,
                   check.vocab_size(), c.vocab_size);
    out.tokenizer = std::move(data);
  };
  const fs::path spm = tokenizer_model ? *tokenizer_model : dir / "tokenizer.model";
  const fs::path hf_json = dir / "tokenizer.json";
  if (fs::exists(spm)) {
    std::string bytes = read_file(spm);
    TokenizerData data = plain_tokenizer_data(bytes);
    Tokenizer probe(data);
    data.added_tokens = read_added_tokens(dir, probe.vocab_size());
    finish(std::move(data));
  } else if (fs::exists(hf_json) && parse_json_file(hf_json).value("model", nlohmann::json::object()).value("type", "") == "BPE") {
    // A byte-level BPE tokenizer.json (SmolLM2, Llama 3, Qwen2 folders): no SentencePiece model.
    TokenizerData data;
    data.kind = TokenizerKind::byte_bpe;
    data.bpe = byte_bpe_from_hf_json(read_file(hf_json), hf_json.string());
    data.add_bos = false;
    finish(std::move(data));
  } else {
    plog::warn("{}: no tokenizer.model: the checkpoint will have no tokenizer (token ids only); pass --tokenizer",
               where);
  }
  plog::info("Hugging Face {}: hidden {}, {} layers, {} heads ({} kv), vocab {}, {} parameters", where, h,
             c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.vocab_size, c.n_parameters());
  return out;
}

}  // namespace personas
