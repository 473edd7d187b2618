#include "model/init_model.h"

#include <algorithm>
#include <cmath>

#include "core/choice_names.h"
#include "core/errors.h"
#include "core/hash.h"
#include "model/checkpoint.h"

namespace personas {

namespace {

std::int64_t round_up(std::int64_t v, std::int64_t multiple) { return (v + multiple - 1) / multiple * multiple; }

// splitmix64: tiny, portable, good enough for initial weights.
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() { return splitmix64(state); }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }  // (0, 1)
};

// Box-Muller over `out`, in fixed blocks of kBlock values, each block with
// its own stream: parallel (OpenMP) and still the same bytes for any thread count.
constexpr std::size_t kBlock = 1 << 16;

void fill_normal(std::vector<float>& out, std::uint64_t seed, double std) {
  constexpr double two_pi = 6.283185307179586;
  const auto n_blocks = static_cast<std::int64_t>((out.size() + kBlock - 1) / kBlock);
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < n_blocks; ++b) {
    SplitMix64 rng{seed ^ (static_cast<std::uint64_t>(b) * 0xd1342543de82ef95ull)};
    const std::size_t end = std::min(out.size(), static_cast<std::size_t>(b + 1) * kBlock);
    for (std::size_t i = static_cast<std::size_t>(b) * kBlock; i < end; i += 2) {
      const double r = std::sqrt(-2.0 * std::log(rng.uniform())) * std;
      const double theta = two_pi * rng.uniform();
      out[i] = static_cast<float>(r * std::cos(theta));
      if (i + 1 < end) out[i + 1] = static_cast<float>(r * std::sin(theta));
    }
  }
}

}  // namespace

const std::vector<std::pair<std::string, ModelPreset>>& model_preset_names() {
  static const std::vector<std::pair<std::string, ModelPreset>> names = {
      {"tiny", ModelPreset::tiny}, {"small", ModelPreset::small}, {"phi3-mini", ModelPreset::phi3_mini}};
  return names;
}

std::string model_preset_word(ModelPreset preset) { return choice_word(model_preset_names(), preset); }

StorageDType preset_storage_dtype(ModelPreset preset) {
  return preset == ModelPreset::phi3_mini ? StorageDType::bf16 : StorageDType::f32;
}

Phi3Config preset_config(ModelPreset preset, std::int64_t tokenizer_vocab) {
  Phi3Config c;
  if (preset == ModelPreset::tiny) {
    c.hidden_size = 128;
    c.intermediate_size = 344;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.max_position_embeddings = 1024;
    c.vocab_size = round_up(tokenizer_vocab, 64);
  } else if (preset == ModelPreset::small) {
    c.hidden_size = 512;
    c.intermediate_size = 1376;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
    c.max_position_embeddings = 2048;
    c.vocab_size = round_up(tokenizer_vocab, 64);
  } else {
    c = Phi3Config{};  // the Phi-3-mini-4k-instruct shape
    c.sliding_window = 2047;
    PERSONAS_CHECK(tokenizer_vocab <= c.vocab_size, usage,
                   "phi3-mini has a {}-row embedding; the tokenizer has {} tokens", c.vocab_size, tokenizer_vocab);
  }
  if (preset != ModelPreset::phi3_mini) {  // placeholders; init-model takes them from the tokenizer
    c.bos_token_id = 1;
    c.eos_token_id = 2;
    c.pad_token_id = 0;
  }
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = false;
  c.validate("preset " + model_preset_word(preset));
  return c;
}

ModelWeights random_weights(const Phi3Config& config, std::uint64_t seed, double init_std) {
  config.validate("random_weights");
  ModelWeights w;
  w.config = config;
  std::uint64_t index = 0;
  for (const auto& spec : expected_tensors(config)) {
    HostTensor t;
    t.shape = spec.shape;
    t.data.resize(static_cast<std::size_t>(t.numel()));
    const bool norm = spec.shape.size() == 1;
    if (norm) {
      std::fill(t.data.begin(), t.data.end(), 1.0f);
    } else {
      // The output projection is drawn wide, 6/sqrt(hidden), because the
      // final norm is frozen at 1: the hidden state has norm sqrt(hidden), so
      // a logit can reach at most |lm_head row| * sqrt(hidden) and an adapter
      // can only turn that direction. At 0.02 the ceiling was 2.6 at hidden
      // 128 (training plateaued at a loss of ln(vocab) - 2.6); at fan-in scale
      // (1/sqrt(hidden)) it is 11, too little to lift five rating tokens above
      // a thousand others and keep their ratios, so training sacrificed the
      // rare ratings (P(1) fell to 0.003 against 0.05 in the data; see
      // Trainer.LearnsTheMarginalWhenThePromptIsUninformative).
      const double std = spec.name == "lm_head.weight" ? kLmHeadGain / std::sqrt(static_cast<double>(config.hidden_size))
                                                       : init_std;
      // One stream per tensor: the seed mixed with the tensor's position.
      fill_normal(t.data, seed * 0x100000001b3ull + (++index) * 0x9e3779b97f4a7c15ull, std);
    }
    w.tensors.emplace(spec.name, std::move(t));
  }
  return w;
}

}  // namespace personas
