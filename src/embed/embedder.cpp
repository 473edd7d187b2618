#include "embed/embedder.h"

#include <cstdlib>

#include "core/errors.h"
#include "embed/hashed_tfidf.h"
#include "embed/http_embedder.h"
#include "embed/model_embedder.h"
#include "embed/embed_settings.h"

namespace personas {
std::unique_ptr<Embedder> make_embedder(const EmbedSettings& config, const std::string& purpose, int device_index) {
  const EmbedConfig& e = config.embed;
  switch (e.embedder) {
    case EmbedderKind::hashed: return std::make_unique<HashedTfidfEmbedder>(e.dim, e.ngram_max);
    case EmbedderKind::model:
      return std::make_unique<ModelEmbedder>(config.model.checkpoint(config.run.dir), config.run.backend, device_index,
                                           config.model.max_seq, e.batch_size, config.model.device_dtype);
    case EmbedderKind::http: {
      HttpClientOptions o;
      o.base_url = e.base_url.empty() ? config.fallback_base_url : e.base_url;
      if (const char* key = std::getenv(e.api_key_env.c_str())) o.api_key = key;
      o.max_in_flight = e.in_flight;
      o.timeout_s = e.timeout_s;
      o.max_attempts = e.max_attempts;
      return std::make_unique<HttpEmbedder>(o, e.model, e.batch_size);
    }
  }
  PERSONAS_FAIL(internal, "make_embedder: EmbedderKind {} for {}", static_cast<int>(e.embedder), purpose);
}

}  // namespace personas
