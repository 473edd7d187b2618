// Converters from other checkpoint formats to our ModelWeights + tokenizer
// (saved with save_checkpoint). docs/formats.md describes each source format.
#pragma once

#include <optional>
#include <string>

#include "core/fs.h"
#include "model/checkpoint.h"

namespace personas {

struct ConvertedModel {
  ModelWeights weights;
  TokenizerData tokenizer;  // model_bytes empty when the source had no tokenizer
};

// Phi3Config from the text of a Hugging Face config.json (model_type phi3, or
// llama/mistral whose tensors we fuse). Refuses what we do not implement
// (rope_scaling, activations other than silu) naming the field.
Phi3Config phi3_config_from_hf_json(const std::string& json_text, const std::string& where);

// A Hugging Face model folder: config.json, model.safetensors or shards with
// model.safetensors.index.json, tokenizer.model (+ tokenizer.json /
// tokenizer_config.json for added tokens and the chat template).
// Separate q/k/v and gate/up projections (Llama layout) are fused.
// `tokenizer_model` overrides the folder's tokenizer.model.
ConvertedModel convert_hf(const fs::path& dir, const std::optional<fs::path>& tokenizer_model = std::nullopt);

// A llama2.c v0 .bin checkpoint (../shared/data/README.md) with its
// SentencePiece tokenizer.model. The q/k rows are permuted from llama2.c's
// interleaved RoPE pairs (2i, 2i+1) to the half-split pairs (i, i + d/2) of
// Hugging Face; wq/wk/wv are fused into qkv_proj and w1/w3 into gate_up_proj.
ConvertedModel convert_llama2c(const fs::path& bin, const fs::path& tokenizer_model);

// A GGUF v2/v3 file (llama.cpp's container; docs/formats.md "GGUF input") of
// architecture llama or phi3 with a byte-level BPE (gpt2) tokenizer. Weights
// are dequantized to fp32 (any of F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K, Q5_K, Q6_K); llama's q/k rows are un-permuted as for llama2.c
// and q/k/v, gate/up fused; the chat template is recognised from
// tokenizer.chat_template. ErrorKind::data naming the file and the key or
// tensor for anything else.
ConvertedModel convert_gguf(const fs::path& gguf_file);

// Row permutation of one projection [n_heads * head_dim, cols]: within each
// head, interleaved row 2i + r moves to r * head_dim/2 + i (r in {0, 1}).
std::vector<float> permute_interleaved_to_half(const std::vector<float>& w, std::int64_t n_heads,
                                               std::int64_t head_dim, std::int64_t cols);

}  // namespace personas
