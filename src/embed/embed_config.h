// [embed]: how profiles (for clustering) and items/notes (for retrieval) become
// vectors (stage 2, docs/clustering.md).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/config_schema.h"

namespace personas {

// embed.embedder: hashed TF-IDF (offline), the base model's hidden states, or an HTTP endpoint.
enum class EmbedderKind { hashed, model, http };
// embed.features: what a profile vector is made of.
enum class ProfileFeatures { text, behavior, both };
const std::vector<std::pair<std::string, EmbedderKind>>& embedder_kind_names();
const std::vector<std::pair<std::string, ProfileFeatures>>& profile_features_names();
std::string to_string(EmbedderKind kind);
std::string to_string(ProfileFeatures features);

struct EmbedConfig {
  EmbedderKind embedder = EmbedderKind::hashed;
  int dim = 1024;                     // hashed: buckets of the hashed TF-IDF vector
  int ngram_max = 2;                  // hashed: word n-grams 1..ngram_max
  ProfileFeatures features = ProfileFeatures::text;
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
