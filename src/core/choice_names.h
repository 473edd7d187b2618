// An enum choice's words: each value of a configuration choice (train.mode,
// cluster.init, ...) has a names table of {word, value} pairs, its first word
// being the one printed (config_schema.h registers the tables as keys).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"

namespace personas {

// "a|b|c": the words of a names table, for messages and help.
template <class E>
std::string choice_words(const std::vector<std::pair<std::string, E>>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : "|") + n.first;
  return out;
}

[[noreturn]] void fail_unknown_choice(ErrorKind kind, const std::string& key, const std::string& word,
                                      const std::string& words);

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

// The value `word` names, for words that do not come through the config
// schema (a command-line flag, a bench argument): an Error of `kind` naming
// `key`, the word and the choices when none does.
template <class E>
E parse_choice(const std::vector<std::pair<std::string, E>>& names, const std::string& word, const std::string& key,
               ErrorKind kind) {
  if (auto v = choice_value(names, word)) return *v;
  fail_unknown_choice(kind, key, word, choice_words(names));
}

}  // namespace personas
