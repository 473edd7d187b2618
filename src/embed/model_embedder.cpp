#include "embed/model_embedder.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/log.h"
#include "model/checkpoint.h"

namespace personas {

ModelEmbedder::ModelEmbedder(const fs::path& checkpoint, BackendKind backend_kind, int device_index,
                             int max_seq, int batch_size, DeviceDtypeSetting device_dtype)
    : max_seq_(max_seq), batch_size_(batch_size) {
  EngineOptions o;
  o.device_dtype = device_dtype;
  o.backend = backend_kind;
  o.device_index = device_index;
  o.n_adapters = 1;  // one adapter with B = 0: exactly the base model
  o.what = "embed.embedder = model";
  engine_ = load_engine(checkpoint, o);
}

ModelEmbedder::~ModelEmbedder() = default;

int ModelEmbedder::dim() const { return static_cast<int>(engine_.config.hidden_size); }

std::vector<float> ModelEmbedder::embed(std::span<const std::string> texts) {
  const std::size_t d = static_cast<std::size_t>(dim());
  std::vector<float> out(texts.size() * d, 0.0f);
  for (std::size_t begin = 0; begin < texts.size(); begin += static_cast<std::size_t>(batch_size_)) {
    const std::size_t end = std::min(texts.size(), begin + static_cast<std::size_t>(batch_size_));
    std::vector<std::vector<std::int32_t>> seqs;
    for (std::size_t i = begin; i < end; ++i) {
      auto ids = engine_.tokenizer->encode(texts[i], /*add_bos=*/engine_.tokenizer->adds_bos());
      if (static_cast<int>(ids.size()) > max_seq_) ids.resize(static_cast<std::size_t>(max_seq_));
      seqs.push_back(std::move(ids));
    }
    const TokenBatch batch = TokenBatch::from_sequences(seqs, {}, 0);
    std::vector<ScorePosition> positions;
    for (std::size_t r = 0; r < seqs.size(); ++r)
      for (std::size_t t = 0; t < seqs[r].size(); ++t) positions.push_back({static_cast<int>(r), static_cast<int>(t)});
    const std::vector<float> hidden = engine_.model->hidden_states(batch, positions);
    std::size_t at = 0;
    for (std::size_t r = 0; r < seqs.size(); ++r) {
      std::vector<double> mean(d, 0.0);
      for (std::size_t t = 0; t < seqs[r].size(); ++t, ++at)
        for (std::size_t j = 0; j < d; ++j) mean[j] += hidden[at * d + j];
      double norm = 0;
      for (double v : mean) norm += v * v;
      const double inv = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
      for (std::size_t j = 0; j < d; ++j) out[(begin + r) * d + j] = static_cast<float>(mean[j] * inv);
    }
  }
  return out;
}

}  // namespace personas
