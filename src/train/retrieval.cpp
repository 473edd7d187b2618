#include "train/retrieval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

namespace personas {

float ItemVectors::cosine(std::int32_t a, std::int32_t b) const {
  auto x = row(a);
  auto y = row(b);
  double dot = 0;
  for (std::size_t i = 0; i < x.size(); ++i) dot += static_cast<double>(x[i]) * y[i];
  return static_cast<float>(dot);
}

void ItemVectors::normalize_rows() {
  for (std::int64_t i = 0; i < n_items; ++i) {
    float* r = data.data() + i * dim;
    double norm = 0;
    for (std::int64_t j = 0; j < dim; ++j) norm += static_cast<double>(r[j]) * r[j];
    if (norm <= 0) continue;
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (std::int64_t j = 0; j < dim; ++j) r[j] *= inv;
  }
}

ItemVectors item_vectors_from_features(const Dataset& data) {
  constexpr int kDecades = 12;  // 1900s .. 2010s
  ItemVectors v;
  v.source = "features";
  v.n_items = static_cast<std::int64_t>(data.items.size());
  const auto n_genres = static_cast<std::int64_t>(std::max<std::size_t>(data.genre_names.size(), 1));
  v.dim = n_genres + kDecades;
  v.data.assign(static_cast<std::size_t>(v.n_items * v.dim), 0.0f);
  for (std::int64_t i = 0; i < v.n_items; ++i) {
    const Item& item = data.items[static_cast<std::size_t>(i)];
    float* r = v.data.data() + i * v.dim;
    for (std::int64_t g = 0; g < n_genres && g < 32; ++g)
      if (item.genres & (1u << g)) r[g] = 1.0f;
    if (item.year >= 1900) r[n_genres + std::min<std::int64_t>((item.year - 1900) / 10, kDecades - 1)] = 0.5f;
  }
  v.normalize_rows();
  return v;
}

std::vector<std::int32_t> note_positions(std::span<const Interaction> train, std::span<const ItemNote> notes) {
  std::unordered_map<std::int32_t, std::int32_t> first;
  for (std::size_t t = 0; t < train.size(); ++t) first.emplace(train[t].item, static_cast<std::int32_t>(t));
  std::vector<std::int32_t> out(notes.size(), std::numeric_limits<std::int32_t>::max());
  for (std::size_t i = 0; i < notes.size(); ++i)
    if (auto it = first.find(notes[i].item); it != first.end()) out[i] = it->second;
  return out;
}

std::vector<int> retrieve_notes(const ItemVectors& vectors, std::span<const ItemNote> notes,
                                std::span<const std::int32_t> positions, std::int32_t target_item,
                                std::int32_t before_position, int k) {
  struct Candidate {
    float score;
    std::int32_t position;
    int index;
  };
  std::vector<Candidate> candidates;
  if (k <= 0) return {};
  for (std::size_t i = 0; i < notes.size(); ++i) {
    const auto& note = notes[i];
    if (note.item == target_item || positions[i] >= before_position) continue;
    if (note.item < 0 || note.item >= vectors.n_items) continue;
    const float score = (target_item >= 0 && target_item < vectors.n_items) ? vectors.cosine(note.item, target_item) : 0.0f;
    candidates.push_back({score, positions[i], static_cast<int>(i)});
  }
  const auto take = std::min<std::size_t>(static_cast<std::size_t>(k), candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(take), candidates.end(),
                    [](const Candidate& a, const Candidate& b) {
                      if (a.score != b.score) return a.score > b.score;
                      if (a.position != b.position) return a.position > b.position;
                      return a.index < b.index;
                    });
  std::vector<int> out;
  for (std::size_t i = 0; i < take; ++i) out.push_back(candidates[i].index);
  return out;
}

}  // namespace personas
