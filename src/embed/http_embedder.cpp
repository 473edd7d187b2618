#include "embed/http_embedder.h"

#include <cmath>

#include "core/errors.h"
#include "core/log.h"

namespace personas {

HttpEmbedder::HttpEmbedder(HttpClientOptions options, std::string model, int batch_size)
    : options_(std::move(options)), model_(std::move(model)), batch_size_(batch_size) {
  PERSONAS_CHECK_HINT(!options_.base_url.empty(), config, "set embed.base_url (or distill.base_url)",
                      "embed.embedder = http needs an endpoint");
}

std::vector<float> HttpEmbedder::embed(std::span<const std::string> texts) {
  const std::size_t n = texts.size();
  std::vector<std::vector<float>> rows(n);
  std::string failure;
  JsonHttpClient client(options_);
  for (std::size_t begin = 0; begin < n; begin += static_cast<std::size_t>(batch_size_)) {
    const std::size_t end = std::min(n, begin + static_cast<std::size_t>(batch_size_));
    nlohmann::json input = nlohmann::json::array();
    std::int64_t chars = 0;
    for (std::size_t i = begin; i < end; ++i) {
      // Endpoints reject empty strings; a single space embeds as "nothing".
      input.push_back(texts[i].empty() ? std::string(" ") : sanitize_utf8(texts[i]));
      chars += static_cast<std::int64_t>(texts[i].size());
    }
    const nlohmann::json body = {{"model", model_}, {"input", input}};
    client.post("/embeddings", body, chars / 4 + 1, [&, begin, end](PostResult&& r) {
      if (!r.ok()) {
        if (failure.empty())
          failure = fmt::format("{} (HTTP {}, {} attempts): {}", post_status_name(r.status), r.http_code, r.attempts,
                                r.error);
        return;
      }
      try {
        for (const auto& item : r.body.at("data")) {
          const auto index = item.at("index").get<std::size_t>();
          if (begin + index >= end) throw std::out_of_range("index out of range");
          rows[begin + index] = item.at("embedding").get<std::vector<float>>();
        }
      } catch (const std::exception& e) {
        if (failure.empty()) failure = fmt::format("unexpected /embeddings answer: {}", e.what());
      }
    });
  }
  client.run();
  PERSONAS_CHECK_HINT(failure.empty(), provider, "check embed.base_url, embed.model and the API key",
                      "embeddings endpoint {}/embeddings failed: {}", options_.base_url, failure);
  for (std::size_t i = 0; i < n; ++i) {
    PERSONAS_CHECK(!rows[i].empty(), provider, "embeddings endpoint returned no vector for input {}", i);
    if (dim_ == 0) dim_ = static_cast<int>(rows[i].size());
    PERSONAS_CHECK(rows[i].size() == static_cast<std::size_t>(dim_), provider,
                   "embeddings endpoint returned vectors of sizes {} and {}", dim_, rows[i].size());
  }
  std::vector<float> out(n * static_cast<std::size_t>(dim_));
  for (std::size_t i = 0; i < n; ++i) {
    double norm = 0;
    for (float v : rows[i]) norm += static_cast<double>(v) * v;
    const double inv = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
    for (int t = 0; t < dim_; ++t) out[i * static_cast<std::size_t>(dim_) + static_cast<std::size_t>(t)] = static_cast<float>(rows[i][static_cast<std::size_t>(t)] * inv);
  }
  plog::debug("http embedder: {} texts, {} requests, {} retries", n, client.stats().requests, client.stats().retries);
  return out;
}

}  // namespace personas
