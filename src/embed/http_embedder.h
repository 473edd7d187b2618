// Embeddings from an OpenAI-compatible POST {base_url}/embeddings
// ({"model", "input": [texts]} -> {"data": [{"index", "embedding"}]}), batched
// (embed.batch_size texts per request), several requests in flight, retried
// with backoff by JsonHttpClient (distill/http_client.h). A request that still
// fails is an ErrorKind::provider error naming the status; vectors are
// L2-normalised.
#pragma once

#include "distill/http_client.h"
#include "embed/embedder.h"

namespace personas {

class HttpEmbedder final : public Embedder {
 public:
  HttpEmbedder(HttpClientOptions options, std::string model, int batch_size);
  std::string name() const override { return "http:" + model_; }
  int dim() const override { return dim_; }
  std::vector<float> embed(std::span<const std::string> texts) override;

 private:
  HttpClientOptions options_;
  std::string model_;
  int batch_size_;
  int dim_ = 0;
};

}  // namespace personas
