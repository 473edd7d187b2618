#include "model/phi3_config.h"

#include "core/errors.h"

namespace personas {

const char* model_arch_name(ModelArch a) { return a == ModelArch::llama ? "llama" : "phi3"; }

ModelArch parse_model_arch(const std::string& name, const std::string& where) {
  if (name == "phi3") return ModelArch::phi3;
  if (name == "llama") return ModelArch::llama;
  PERSONAS_FAIL(data, "{}: architecture '{}' is not supported (known: phi3, llama)", where, name);
}

std::int64_t Phi3Config::n_parameters() const {
  const std::int64_t h = hidden_size;
  const std::int64_t qkv = h * (h + 2 * kv_dim());
  const std::int64_t per_layer = qkv + h * h + 2 * intermediate_size * h + intermediate_size * h + 2 * h;
  const std::int64_t embeddings = vocab_size * h * (tie_word_embeddings ? 1 : 2);
  return embeddings + num_hidden_layers * per_layer + h;
}

void Phi3Config::validate(const std::string& where) const {
  auto positive = [&](std::int64_t v, const char* field) {
    PERSONAS_CHECK(v > 0, config, "{}: {} must be positive (got {})", where, field, v);
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(num_key_value_heads, "num_key_value_heads");
  positive(max_position_embeddings, "max_position_embeddings");
  PERSONAS_CHECK(hidden_size % num_attention_heads == 0, config,
                 "{}: hidden_size {} is not a multiple of num_attention_heads {}", where, hidden_size,
                 num_attention_heads);
  PERSONAS_CHECK(head_dim() % 2 == 0, config, "{}: head dim {} must be even for RoPE", where, head_dim());
  PERSONAS_CHECK(num_attention_heads % num_key_value_heads == 0, config,
                 "{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", where,
                 num_attention_heads, num_key_value_heads);
  PERSONAS_CHECK(rope_theta > 0, config, "{}: rope_theta must be positive (got {})", where, rope_theta);
  PERSONAS_CHECK(rms_norm_eps > 0, config, "{}: rms_norm_eps must be positive (got {})", where, rms_norm_eps);
  PERSONAS_CHECK(sliding_window >= 0, config, "{}: sliding_window must be >= 0 (got {})", where, sliding_window);
  PERSONAS_CHECK_HINT(partial_rotary_factor == 1.0, config,
                      "Phi-3 mini/medium use full rotary embeddings; partial rotary is not implemented",
                      "{}: partial_rotary_factor {} is not supported", where, partial_rotary_factor);
  auto token = [&](std::int64_t id, const char* field) {
    PERSONAS_CHECK(id >= -1 && id < vocab_size, config, "{}: {} {} is outside the vocabulary of {}", where, field,
                   id, vocab_size);
  };
  token(bos_token_id, "bos_token_id");
  token(eos_token_id, "eos_token_id");
  token(pad_token_id, "pad_token_id");
}

}  // namespace personas
