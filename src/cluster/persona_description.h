// A short description of each persona for the report: its most distinctive
// genres (share of the persona's training ratings in a genre against the share
// over all users) and words (fraction of the persona's profiles using a word
// against the fraction over all profiles). Collective; the result is the same
// on every rank and does not depend on the rank layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "comm/comm.h"
#include "data/dataset.h"

namespace personas {

struct DistinctiveTerm {
  std::string name;
  double persona_share = 0;  // in the persona
  double overall_share = 0;  // over all users
};

struct PersonaDescription {
  int persona = 0;
  std::int64_t size = 0;
  std::vector<DistinctiveTerm> genres;
  std::vector<DistinctiveTerm> words;
  std::string summary;  // "likes Horror, Sci-Fi; words: scary, space"
  nlohmann::json to_json() const;
};

// labels: persona of each of dataset.users (this rank); profile_texts: the
// users' profile texts (same order; empty when unknown or none).
std::vector<PersonaDescription> describe_personas(Comm& comm, const Dataset& dataset,
                                                  const std::vector<std::int32_t>& labels,
                                                  const std::vector<std::string>& profile_texts, int k, int top);

}  // namespace personas
