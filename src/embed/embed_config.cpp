#include "embed/embed_config.h"

namespace personas {

const std::vector<std::pair<std::string, EmbedderKind>>& embedder_kind_names() {
  static const std::vector<std::pair<std::string, EmbedderKind>> names = {
      {"hashed", EmbedderKind::hashed}, {"model", EmbedderKind::model}, {"http", EmbedderKind::http}};
  return names;
}

const std::vector<std::pair<std::string, ProfileFeatures>>& profile_features_names() {
  static const std::vector<std::pair<std::string, ProfileFeatures>> names = {
      {"text", ProfileFeatures::text}, {"behavior", ProfileFeatures::behavior}, {"both", ProfileFeatures::both}};
  return names;
}

std::string to_string(EmbedderKind kind) { return choice_word(embedder_kind_names(), kind); }
std::string to_string(ProfileFeatures features) { return choice_word(profile_features_names(), features); }

void EmbedConfig::describe(ConfigSchema& s) {
  s.add_choice("embed.embedder", &embedder, embedder_kind_names(),
               "hashed = TF-IDF of word n-grams hashed to embed.dim (offline); model = mean-pooled final hidden "
               "states of the base model; http = an OpenAI-compatible /embeddings endpoint");
  s.add("embed.dim", &dim, "hashed embedder: vector size (hash buckets)");
  s.add("embed.ngram_max", &ngram_max, "hashed embedder: word n-grams of length 1..ngram_max");
  s.add_choice("embed.features", &features, profile_features_names(),
               "profile vectors from the profile text, from rating behaviour (per-genre offsets from item means, "
               "activity), or both concatenated with the weights below");
  s.add("embed.text_weight", &text_weight, "features = both: weight of the unit-length text part");
  s.add("embed.behavior_weight", &behavior_weight, "features = both: weight of the unit-length behaviour part");
  s.add("embed.items", &items, "also embed item descriptions (title, year, genres) for retrieval");
  s.add("embed.notes", &notes, "also embed every user's per-item notes for retrieval");
  s.add("embed.batch_size", &batch_size, "texts per model batch or per /embeddings request");
  s.add("embed.base_url", &base_url, "http embedder: endpoint base (\".../v1\"); empty = distill.base_url");
  s.add("embed.model", &model, "http embedder: model name sent to /embeddings");
  s.add("embed.api_key_env", &api_key_env, "http embedder: environment variable holding the API key");
  s.add("embed.in_flight", &in_flight, "http embedder: concurrent requests per rank");
  s.add("embed.timeout_s", &timeout_s, "http embedder: seconds per attempt");
  s.add("embed.max_attempts", &max_attempts, "http embedder: attempts per request, retries included");
  s.add_check([this](Problems& p) {
    if (dim < 2) p.add("embed.dim: {} must be >= 2", dim);
    if (ngram_max < 1 || ngram_max > 5) p.add("embed.ngram_max: {} must be in 1..5", ngram_max);
    if (text_weight < 0 || behavior_weight < 0 || (features == ProfileFeatures::both && text_weight + behavior_weight <= 0))
      p.add("embed.text_weight/behavior_weight: need non-negative weights, not both 0 (got {} and {})", text_weight,
            behavior_weight);
    if (batch_size < 1) p.add("embed.batch_size: {} must be >= 1", batch_size);
    if (in_flight < 1) p.add("embed.in_flight: {} must be >= 1", in_flight);
    if (max_attempts < 1) p.add("embed.max_attempts: {} must be >= 1", max_attempts);
    if (embedder == EmbedderKind::http && model.empty()) p.add("embed.model: required for embed.embedder = http");
  });
}

}  // namespace personas
