// What a user's training-period ratings say about them: averages, offset
// from other viewers, per-genre and per-era tastes, and the three Agent4Rec
// traits. Both writers (offline and LLM) use these, so the traits and the
// facts stated in every profile come from the same numbers.
//
// Trait levels follow Agent4Rec: thresholds are quantiles over every selected
// user (all ranks), so a user's level never depends on the number of ranks:
//   activity   = training-period ratings;            levels split at p60 / p90
//   conformity = mean squared gap to item averages;  p25 / p80 (low gap = follower)
//   diversity  = genres covering 80% of the user's genre tags; p33 / p66
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "data/dataset.h"

namespace personas {

struct GenreTaste {
  int genre = 0;     // index into Dataset::genre_names
  int count = 0;     // rated movies with this genre
  double mean = 0;   // the user's mean rating over them
};

struct EraTaste {
  int decade = 0;    // 1990 = the 1990s
  int count = 0;
  double mean = 0;
};

struct UserStats {
  int n_ratings = 0;
  double mean = 0;            // mean rating
  double offset = 0;          // mean of (rating - item average), over items with an average
  double squared_gap = 0;     // mean of (rating - item average)^2 (conformity measure)
  int genre_spread = 0;       // genres covering 80% of genre tags (diversity measure)
  std::vector<GenreTaste> genres;  // every genre seen, most rated first
  std::vector<int> liked_genres;     // best first (at most 3)
  std::vector<int> disliked_genres;  // worst first (at most 3)
  std::vector<EraTaste> eras;        // every decade seen, oldest first
  int favourite_decade = 0;          // most rated decade (0 when no years)
  int activity = 2, conformity = 2, diversity = 2;  // trait levels 1..3
};

struct TraitThresholds {
  double activity_low = 0, activity_high = 0;
  double conformity_low = 0, conformity_high = 0;
  double diversity_low = 0, diversity_high = 0;
};

// Statistics of one user's training period (traits not yet assigned).
UserStats compute_user_stats(const Dataset& data, const User& user);

// Collective: thresholds from every rank's users (identical on all ranks).
TraitThresholds trait_thresholds(const std::vector<UserStats>& local, Comm& comm);
// The same from each user's three trait values (append_trait_values), so a
// caller need not keep every user's statistics.
void append_trait_values(const UserStats& stats, std::vector<double>& values);
TraitThresholds trait_thresholds(const std::vector<double>& trait_values, Comm& comm);
void assign_traits(UserStats& stats, const TraitThresholds& thresholds);

// Agent4Rec's trait sentences, level 1..3.
const std::string& activity_sentence(int level);
const std::string& conformity_sentence(int level);
const std::string& diversity_sentence(int level);

// Short, factual summary used in prompts and reflected profiles.
std::string describe_statistics(const Dataset& data, const UserStats& stats);
// "1..5" ratings printed as "4" or "3.5".
std::string format_rating(float rating);
// The movie as it appears in notes and prompts: "Toy Story (1995)".
std::string movie_label(const Item& item);
// "Animation, Children's, Comedy"
std::string genre_list(const Dataset& data, std::uint32_t genres);

}  // namespace personas
