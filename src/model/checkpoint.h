// The model checkpoint: one self-contained HDF5 file (docs/formats.md).
//   /                       attributes: format "personas-model", format_version 2,
//                           architecture ("phi3" | "llama"), every config field
//                           under its Hugging Face name, dtype ("bf16" | "f32")
//   /tokenizer              attributes: kind ("sentencepiece" | "byte_bpe"),
//                           chat_template, chat_default_system, bos_id, eos_id,
//                           pad_id, add_bos (byte_bpe: pre_tokenizer)
//   sentencepiece: /tokenizer/model (ModelProto bytes, uint8), /tokenizer/added_tokens
//                  strings (content) + added_token_ids/_flags datasets
//   byte_bpe:      /tokenizer/tokens, /tokenizer/merges (strings), /tokenizer/token_types (int32)
// Version 1 files ("personas-phi3": phi3, SentencePiece) are still read.
//   /model/embed_tokens/weight, /model/layers/{i}/self_attn/qkv_proj/weight,
//   ... /model/norm/weight, /lm_head/weight (absent when tie_word_embeddings)
// Tensors are bf16 (a real HDF5 16-bit float, h5py reads it) or f32; loading
// always gives fp32 host tensors. Loading checks the version, then that the
// set of tensors is exactly the expected one (naming what is missing or
// unexpected) with the expected shape and a float dtype.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/fs.h"
#include "model/tokenizer.h"
#include "model/weights.h"

namespace personas {

inline constexpr std::int64_t kCheckpointFormatVersion = 2;

enum class StorageDType { f32, bf16 };
const char* storage_dtype_name(StorageDType d);
StorageDType parse_storage_dtype(const std::string& name);  // ErrorKind::usage when unknown

struct Checkpoint {
  ModelWeights weights;
  TokenizerData tokenizer;
};

// Hugging Face tensor names ("model.layers.0.self_attn.qkv_proj.weight", ...)
// and shapes that a checkpoint of this config holds, in a fixed order.
struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};
std::vector<TensorSpec> expected_tensors(const Phi3Config& config);

// "model.layers.0.mlp.down_proj.weight" <-> "/model/layers/0/mlp/down_proj/weight".
std::string tensor_name_to_h5_path(const std::string& name);

// Validates config and tensors (ErrorKind::data naming the tensor), then writes
// atomically (temp file + rename).
void save_checkpoint(const fs::path& path, const ModelWeights& weights, const TokenizerData& tokenizer,
                     StorageDType dtype);

Checkpoint load_checkpoint(const fs::path& path);
// Cheap reads without the tensors.
Phi3Config load_checkpoint_config(const fs::path& path);
TokenizerData load_checkpoint_tokenizer(const fs::path& path);
// The stored dtype of the tensors.
StorageDType checkpoint_dtype(const fs::path& path);

// Checks weights against expected_tensors(weights.config): names, shapes, sizes.
// ErrorKind::data listing everything missing, unexpected or misshaped.
void validate_weights(const ModelWeights& weights, const std::string& where);

// bf16 rounding helpers (round to nearest even), shared by the writers.
std::uint16_t f32_to_bf16(float x);
float bf16_to_f32(std::uint16_t x);

}  // namespace personas
