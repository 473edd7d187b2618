// An enum choice's words: each value of a configuration choice (train.mode,
// cluster.init, ...) has a names table of {word, value} pairs, its first word
// being the one printed (config_schema.h registers the tables as keys).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace personas {

// The configuration's word of an enum choice (the first name of its value; "?" if none).
template <class E>
std::string choice_word(const std::vector<std::pair<std::string, E>>& names, E value) {
  for (const auto& [word, v] : names)
    if (v == value) return word;
  return "?";
}

// The value a word names (nullopt: none does).
template <class E>
std::optional<E> choice_value(const std::vector<std::pair<std::string, E>>& names, const std::string& word) {
  for (const auto& [w, v] : names)
    if (w == word) return v;
  return std::nullopt;
}

}  // namespace personas
