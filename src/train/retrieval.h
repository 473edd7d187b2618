// RAFT retrieval: for a target item, the user's own notes about the most
// similar items (cosine over item vectors), chosen only among items the user
// rated BEFORE the target in time. So a training sample never sees the
// target's own note, never a test-period note (notes are training-period
// only), and never a note from its own future; an evaluation prompt for a
// test item (which comes after the whole training period) may use every
// training note. docs/training.md explains the choice.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "distill/memories.h"

namespace personas {

// One vector per item (row = index into Dataset::items), L2-normalised so the
// dot product is the cosine. An all-zero row (unknown item) has cosine 0 with everything.
struct ItemVectors {
  std::int64_t n_items = 0;
  std::int64_t dim = 0;
  std::vector<float> data;  // [n_items, dim]
  std::string source;       // "embed" (RUN/embed) or "features"

  std::span<const float> row(std::int32_t item) const {
    return {data.data() + static_cast<std::size_t>(item) * static_cast<std::size_t>(dim), static_cast<std::size_t>(dim)};
  }
  float cosine(std::int32_t a, std::int32_t b) const;
  void normalize_rows();
};

// Fallback when no item embeddings exist: genre indicators plus a decade
// one-hot (scaled 0.5), so "similar" means "same genres, same era".
ItemVectors item_vectors_from_features(const Dataset& data);

// Indices into `notes` of the top-k notes by cosine(note.item, target_item),
// among notes whose item is not the target and whose time position (from
// `position_of_item`: item -> index of the user's first training interaction
// with it) is < `before_position`. Ties: the more recent note first.
// position_of_item must cover every note's item (missing = never eligible).
std::vector<int> retrieve_notes(const ItemVectors& vectors, std::span<const ItemNote> notes,
                                std::span<const std::int32_t> note_positions, std::int32_t target_item,
                                std::int32_t before_position, int k);

// note_positions[i] = time position of notes[i].item in the user's training
// interactions (its first occurrence), or INT32_MAX when absent there.
std::vector<std::int32_t> note_positions(std::span<const Interaction> train, std::span<const ItemNote> notes);

}  // namespace personas
