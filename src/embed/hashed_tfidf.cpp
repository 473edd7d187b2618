#include "embed/hashed_tfidf.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/errors.h"
#include "core/strings.h"
#include "io/hdf5_file.h"

namespace personas {
namespace {

constexpr std::uint64_t kHashSeed = 0x70657273ULL;  // fixed: part of the format

bool word_byte(unsigned char c) { return std::isalnum(c) != 0 || c >= 0x80; }

}  // namespace

std::vector<std::string> text_words(std::string_view text) {
  std::vector<std::string> words;
  std::string current;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (word_byte(c)) {
      current.push_back(c < 0x80 ? static_cast<char>(std::tolower(c)) : static_cast<char>(c));
    } else if ((c == '\'' ) && !current.empty() && i + 1 < text.size() &&
               word_byte(static_cast<unsigned char>(text[i + 1]))) {
      continue;  // inside a word: drop the apostrophe
    } else if (!current.empty()) {
      words.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
}

HashedTfidfEmbedder::HashedTfidfEmbedder(int dim, int ngram_max) {
  PERSONAS_CHECK(dim >= 2, config, "embed.dim: {} must be >= 2", dim);
  PERSONAS_CHECK(ngram_max >= 1, config, "embed.ngram_max: {} must be >= 1", ngram_max);
  table_.dim = dim;
  table_.ngram_max = ngram_max;
  table_.df.assign(static_cast<std::size_t>(dim), 0);
  compute_idf();
}

HashedTfidfEmbedder::HashedTfidfEmbedder(TfidfTable table) : table_(std::move(table)) {
  PERSONAS_CHECK(table_.df.size() == static_cast<std::size_t>(table_.dim), data,
                 "TF-IDF table: {} document frequencies for dim {}", table_.df.size(), table_.dim);
  compute_idf();
}

std::vector<std::uint32_t> HashedTfidfEmbedder::buckets(std::string_view text) const {
  const auto words = text_words(text);
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string gram;
    for (int n = 1; n <= table_.ngram_max && i + static_cast<std::size_t>(n) <= words.size(); ++n) {
      if (n > 1) gram.push_back(' ');
      gram += words[i + static_cast<std::size_t>(n) - 1];
      out.push_back(static_cast<std::uint32_t>(fnv1a64(gram, kHashSeed) % static_cast<std::uint64_t>(table_.dim)));
    }
  }
  return out;
}

void HashedTfidfEmbedder::fit(std::span<const std::string> sharded, std::span<const std::string> replicated,
                              Comm& comm) {
  std::vector<std::int64_t> df(static_cast<std::size_t>(table_.dim), 0);
  auto count = [&](const std::string& text, std::vector<std::int64_t>& into) {
    auto b = buckets(text);
    std::sort(b.begin(), b.end());
    b.erase(std::unique(b.begin(), b.end()), b.end());
    for (auto bucket : b) ++into[bucket];
  };
  for (const auto& t : sharded) count(t, df);
  df.push_back(static_cast<std::int64_t>(sharded.size()));
  comm.allreduce(std::span<std::int64_t>(df), ReduceOp::sum);
  table_.n_docs = df.back() + static_cast<std::int64_t>(replicated.size());
  df.pop_back();
  for (const auto& t : replicated) count(t, df);
  table_.df = std::move(df);
  compute_idf();
}

void HashedTfidfEmbedder::compute_idf() {
  idf_.resize(static_cast<std::size_t>(table_.dim));
  const double n = static_cast<double>(table_.n_docs);
  for (std::size_t b = 0; b < idf_.size(); ++b)
    idf_[b] = static_cast<float>(std::log((1.0 + n) / (1.0 + static_cast<double>(table_.df[b]))) + 1.0);
}

std::vector<float> HashedTfidfEmbedder::embed(std::span<const std::string> texts) {
  const auto d = static_cast<std::size_t>(table_.dim);
  std::vector<float> out(texts.size() * d, 0.0f);
#pragma omp parallel for schedule(dynamic, 16)
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::unordered_map<std::uint32_t, int> tf;
    for (auto b : buckets(texts[i])) ++tf[b];
    float* v = out.data() + i * d;
    double norm = 0;
    for (const auto& [b, count] : tf) {
      const double w = (1.0 + std::log(static_cast<double>(count))) * idf_[b];
      v[b] = static_cast<float>(w);
      norm += w * w;
    }
    if (norm > 0) {
      const double inv = 1.0 / std::sqrt(norm);
      for (const auto& [b, count] : tf) v[b] = static_cast<float>(v[b] * inv);
    }
  }
  return out;
}

void HashedTfidfEmbedder::save(const fs::path& path) const {
  write_atomically(path, [&](const fs::path& tmp) {
    h5::File f(tmp, h5::File::Mode::create);
    f.write<std::int64_t>("/df", table_.df);
    f.set_attr("/", "dim", static_cast<std::int64_t>(table_.dim));
    f.set_attr("/", "ngram_max", static_cast<std::int64_t>(table_.ngram_max));
    f.set_attr("/", "n_docs", table_.n_docs);
    f.set_attr("/", "hash", std::string("fnv1a64 seed 0x70657273 of the space-joined lower-cased n-gram, mod dim"));
  });
}

HashedTfidfEmbedder HashedTfidfEmbedder::load(const fs::path& path) {
  h5::File f(path, h5::File::Mode::read);
  TfidfTable t;
  t.dim = static_cast<int>(f.attr_int("/", "dim"));
  t.ngram_max = static_cast<int>(f.attr_int("/", "ngram_max"));
  t.n_docs = f.attr_int("/", "n_docs");
  t.df = f.read<std::int64_t>("/df");
  return HashedTfidfEmbedder(std::move(t));
}

}  // namespace personas
