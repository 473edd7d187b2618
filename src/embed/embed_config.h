// [embed]: how profiles (for clustering) and items/notes (for retrieval) become
// vectors (stage 2, docs/clustering.md).
#pragma once

#include <string>

#include "core/config_schema.h"

namespace personas {

struct EmbedConfig {
  std::string embedder = "hashed";    // hashed (TF-IDF, offline) | model (base model hidden states) | http
  int dim = 1024;                     // hashed: buckets of the hashed TF-IDF vector
  int ngram_max = 2;                  // hashed: word n-grams 1..ngram_max
  std::string features = "text";      // profile vectors: text | behavior | both
  double text_weight = 1.0;           // both: weight of the (unit) text part
  double behavior_weight = 1.0;       // both: weight of the (unit) behaviour part
  bool items = true;                  // also embed item descriptions (retrieval)
  bool notes = true;                  // also embed each user's notes (retrieval)
  int batch_size = 32;                // texts per model batch / per HTTP request
  // http embedder (OpenAI-compatible /embeddings)
  std::string base_url;               // e.g. https://api.openai.com/v1 ("" = distill.base_url)
  std::string model;                  // e.g. text-embedding-3-small
  std::string api_key_env = "OPENAI_API_KEY";  // env var with the key (never logged)
  int in_flight = 8;
  double timeout_s = 60.0;
  int max_attempts = 6;

  void describe(ConfigSchema& schema);
};

}  // namespace personas
