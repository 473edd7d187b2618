// Embeddings from the frozen base model: the final-norm hidden states of every
// token of the text (BOS first when the tokenizer adds one, cut at model.max_seq tokens), mean-pooled and
// L2-normalised. Runs on the configured backend (run.backend).
#pragma once

#include <memory>

#include "backend/backend.h"
#include "embed/embedder.h"
#include "model/engine.h"

namespace personas {

class ModelEmbedder final : public Embedder {
 public:
  // Loads the checkpoint at `checkpoint` on a backend of kind `backend_kind`
  // (the base in `device_dtype`: model.device_dtype).
  ModelEmbedder(const fs::path& checkpoint, BackendKind backend_kind, int device_index, int max_seq,
                int batch_size, DeviceDtypeSetting device_dtype = DeviceDtypeSetting::automatic);
  ~ModelEmbedder() override;
  std::string name() const override { return "model"; }
  int dim() const override;
  std::vector<float> embed(std::span<const std::string> texts) override;

 private:
  Engine engine_;
  int max_seq_;
  int batch_size_;
};

}  // namespace personas
