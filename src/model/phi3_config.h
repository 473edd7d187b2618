// The model's shape, with Hugging Face config names, and its architecture
// family. Kept as HDF5 attributes on the checkpoint's root group
// (docs/formats.md). Every family runs through the same fused block (qkv_proj,
// gate_up_proj, half-split RoPE); the family decides the names on the way in
// (converters) and out (PEFT export) and nothing is guessed from the shape.
#pragma once

#include <cstdint>
#include <string>

namespace personas {

// Architecture families (HF model_type / GGUF general.architecture).
enum class ModelArch { phi3, llama };
const char* model_arch_name(ModelArch a);                                  // "phi3", "llama"
ModelArch parse_model_arch(const std::string& name, const std::string& where);  // ErrorKind::data when unknown

struct Phi3Config {
  ModelArch arch = ModelArch::phi3;
  std::int64_t vocab_size = 32064;
  std::int64_t hidden_size = 3072;
  std::int64_t intermediate_size = 8192;
  std::int64_t num_hidden_layers = 32;
  std::int64_t num_attention_heads = 32;
  std::int64_t num_key_value_heads = 32;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  std::int64_t max_position_embeddings = 4096;
  std::int64_t bos_token_id = 1;
  std::int64_t eos_token_id = 32000;
  std::int64_t pad_token_id = 32000;
  std::int64_t sliding_window = 0;   // 0 = none
  bool tie_word_embeddings = false;
  double partial_rotary_factor = 1.0;

  std::int64_t head_dim() const { return hidden_size / num_attention_heads; }
  std::int64_t kv_dim() const { return head_dim() * num_key_value_heads; }
  // Parameters of the frozen base (for FLOP counts: 4N per token ...).
  std::int64_t n_parameters() const;
  // Throws ErrorKind::config naming the field when the shape is inconsistent.
  void validate(const std::string& where) const;
};

}  // namespace personas
