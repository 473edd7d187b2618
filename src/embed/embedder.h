// The Embedder seam (DESIGN.md): text -> vector. Clustering and retrieval do
// not care which one made the vectors.
//   hashed   HashedTfidfEmbedder (hashed_tfidf.h): offline, the default
//   model    ModelEmbedder (model_embedder.h): mean-pooled final hidden states of the base model
//   http     HttpEmbedder (http_embedder.h): an OpenAI-compatible /embeddings endpoint
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "comm/comm.h"

namespace personas {

struct EmbedSettings;

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string name() const = 0;
  // Vector size; may only be known after the first embed() for remote models (0 until then).
  virtual int dim() const = 0;
  // Collective: learns corpus statistics, if the embedder has any (the hashed
  // TF-IDF's document frequencies). `sharded` texts differ per rank (summed
  // over ranks); `replicated` texts are the same on every rank (counted once).
  virtual void fit(std::span<const std::string> sharded, std::span<const std::string> replicated, Comm& comm) {}
  // Row-major [texts.size(), dim()] vectors, L2-normalised (an empty text gives zeros).
  virtual std::vector<float> embed(std::span<const std::string> texts) = 0;
};

// The embedder named by config.embed.embedder. `purpose` tags the instance
// ("profiles" or "retrieval") for messages; `device_index` picks the GPU of
// the model embedder (local rank % devices).
std::unique_ptr<Embedder> make_embedder(const EmbedSettings& config, const std::string& purpose, int device_index = 0);

}  // namespace personas
