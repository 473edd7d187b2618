// Random checkpoints of a named shape (`personas init-model`): the
// quickstart's model (tiny), a CPU benchmark shape (small) and the real
// Phi-3-mini shape for GPU benchmarks. Weights follow Hugging Face's Phi-3
// init: linear and embedding N(0, 0.02), norms 1; seeded, so the same seed
// gives the same bytes on every machine (our own normal generator, not <random>'s).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/checkpoint.h"
#include "model/weights.h"

namespace personas {

// The shape of a preset for a tokenizer with `tokenizer_vocab` tokens (the
// embedding is rounded up to a multiple of 64, as Phi-3's 32064 is).
// Presets: tiny (hidden 128, 4 layers, 4 heads, 2 kv heads, intermediate 344,
// 1024 positions), small (hidden 512, 8 layers, 8 heads, 4 kv heads,
// intermediate 1376, 2048 positions), phi3-mini (Phi-3-mini-4k shape, vocab
// 32064, sliding window 2047).
enum class ModelPreset { tiny, small, phi3_mini };
// {"tiny", tiny}, {"small", small}, {"phi3-mini", phi3_mini}: the words of
// model.preset and of init-model --preset.
const std::vector<std::pair<std::string, ModelPreset>>& model_preset_names();
std::string model_preset_word(ModelPreset preset);
Phi3Config preset_config(ModelPreset preset, std::int64_t tokenizer_vocab);
// The dtype a preset's checkpoint is stored in: bf16 for phi3-mini (7.6 GB in
// f32), f32 for the CPU shapes.
StorageDType preset_storage_dtype(ModelPreset preset);

// Fills every tensor of `config` with seeded random values.
// Normal(0, init_std) matrices, except lm_head.weight: Normal(0, kLmHeadGain /
// sqrt(hidden)) (why: init_model.cpp); norm weights 1.
inline constexpr double kLmHeadGain = 6.0;
ModelWeights random_weights(const Phi3Config& config, std::uint64_t seed, double init_std = 0.02);

}  // namespace personas
