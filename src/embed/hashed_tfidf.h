// Hashed TF-IDF (the offline embedder): word n-grams (1..ngram_max) of the
// lower-cased text, each hashed (FNV-1a 64) to one of `dim` buckets; weight
// (1 + ln tf) * idf with the smoothed idf = ln((1 + N) / (1 + df)) + 1 of
// scikit-learn; the vector is L2-normalised. Document frequencies are counted
// per bucket and summed over ranks, so the vectors do not depend on how the
// users are split. The fitted table can be saved and loaded so later stages
// embed queries exactly as this stage embedded the corpus.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"
#include "embed/embedder.h"

namespace personas {

// Lower-cased words: runs of ASCII letters/digits and non-ASCII (UTF-8) bytes;
// apostrophes inside a word are dropped ("don't" -> "dont").
std::vector<std::string> text_words(std::string_view text);

struct TfidfTable {
  int dim = 1024;
  int ngram_max = 2;
  std::int64_t n_docs = 0;
  std::vector<std::int64_t> df;  // [dim]
};

class HashedTfidfEmbedder final : public Embedder {
 public:
  HashedTfidfEmbedder(int dim, int ngram_max);
  explicit HashedTfidfEmbedder(TfidfTable table);
  std::string name() const override { return "hashed-tfidf"; }
  int dim() const override { return table_.dim; }
  void fit(std::span<const std::string> sharded, std::span<const std::string> replicated, Comm& comm) override;
  std::vector<float> embed(std::span<const std::string> texts) override;

  // Bucket of each n-gram occurrence of a text (for tests and explanations).
  std::vector<std::uint32_t> buckets(std::string_view text) const;
  const TfidfTable& table() const { return table_; }
  void save(const fs::path& path) const;
  static HashedTfidfEmbedder load(const fs::path& path);

 private:
  TfidfTable table_;
  std::vector<float> idf_;  // [dim]; all 1 before fit()
  void compute_idf();
};

}  // namespace personas
