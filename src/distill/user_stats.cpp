#include "distill/user_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "core/strings.h"

namespace personas {

UserStats compute_user_stats(const Dataset& data, const User& user) {
  UserStats s;
  auto train = data.train_of(user);
  s.n_ratings = static_cast<int>(train.size());
  if (train.empty()) return s;
  double sum = 0, gap_sum = 0, gap2_sum = 0;
  int gap_n = 0;
  // (count, rating sum) per genre and per decade, in key order. Flat arrays,
  // not std::map: this runs twice per user in the offline distiller (a
  // tenth of its time with maps); sums are taken in the same order as before.
  std::array<std::pair<int, double>, 32> genre_acc{};
  std::vector<std::pair<int, std::pair<int, double>>> era_acc;  // sorted by decade
  int genre_tags = 0;
  for (const auto& x : train) {
    const Item& item = data.items[static_cast<std::size_t>(x.item)];
    sum += x.rating;
    if (item.train_count > 0) {
      double gap = x.rating - item.train_mean;
      gap_sum += gap;
      gap2_sum += gap * gap;
      ++gap_n;
    }
    for (int g = 0; g < static_cast<int>(data.genre_names.size()) && g < 32; ++g)
      if (item.genres & (1u << g)) {
        auto& a = genre_acc[static_cast<std::size_t>(g)];
        ++a.first;
        a.second += x.rating;
        ++genre_tags;
      }
    if (item.year > 0) {
      const int decade = item.year / 10 * 10;
      auto at = std::lower_bound(era_acc.begin(), era_acc.end(), decade,
                                 [](const auto& e, int d) { return e.first < d; });
      if (at == era_acc.end() || at->first != decade) at = era_acc.insert(at, {decade, {0, 0.0}});
      ++at->second.first;
      at->second.second += x.rating;
    }
  }
  s.mean = sum / s.n_ratings;
  s.offset = gap_n ? gap_sum / gap_n : 0.0;
  s.squared_gap = gap_n ? gap2_sum / gap_n : 0.0;
  for (int g = 0; g < static_cast<int>(genre_acc.size()); ++g) {
    const auto& a = genre_acc[static_cast<std::size_t>(g)];
    if (a.first > 0) s.genres.push_back({g, a.first, a.second / a.first});
  }
  std::stable_sort(s.genres.begin(), s.genres.end(), [](const auto& a, const auto& b) { return a.count > b.count; });
  int covered = 0;
  for (const auto& g : s.genres) {
    if (covered >= 0.8 * genre_tags) break;
    covered += g.count;
    ++s.genre_spread;
  }
  // Liked/disliked: genres rated at least twice whose mean is clearly above /
  // below the user's own mean (a harsh rater's 3.5 can be a favourite).
  std::vector<GenreTaste> ranked;
  for (const auto& g : s.genres)
    if (g.count >= 2) ranked.push_back(g);
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.mean != b.mean ? a.mean > b.mean : a.count > b.count;
  });
  for (const auto& g : ranked)
    if (g.mean >= s.mean + 0.2 && s.liked_genres.size() < 3) s.liked_genres.push_back(g.genre);
  for (auto it = ranked.rbegin(); it != ranked.rend(); ++it)
    if (it->mean <= s.mean - 0.2 && s.disliked_genres.size() < 3) s.disliked_genres.push_back(it->genre);
  for (const auto& [d, a] : era_acc) s.eras.push_back({d, a.first, a.second / a.first});
  int best = 0;
  for (const auto& e : s.eras)
    if (e.count > best) {
      best = e.count;
      s.favourite_decade = e.decade;
    }
  return s;
}

namespace {

// Linear-interpolation quantile (numpy/pandas default).
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(pos));
  auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

int level(double value, double low, double high) { return value <= low ? 1 : value <= high ? 2 : 3; }

}  // namespace

void append_trait_values(const UserStats& s, std::vector<double>& values) {
  values.push_back(s.n_ratings);
  values.push_back(s.squared_gap);
  values.push_back(s.genre_spread);
}

TraitThresholds trait_thresholds(const std::vector<UserStats>& local, Comm& comm) {
  std::vector<double> mine;
  mine.reserve(local.size() * 3);
  for (const auto& s : local) append_trait_values(s, mine);
  return trait_thresholds(mine, comm);
}

TraitThresholds trait_thresholds(const std::vector<double>& mine, Comm& comm) {
  auto parts = comm.allgatherv(std::as_bytes(std::span<const double>(mine)));
  std::vector<double> activity, conformity, diversity;
  for (const auto& part : parts) {
    std::vector<double> values(part.size() / sizeof(double));
    std::memcpy(values.data(), part.data(), values.size() * sizeof(double));
    for (std::size_t i = 0; i + 2 < values.size(); i += 3) {
      activity.push_back(values[i]);
      conformity.push_back(values[i + 1]);
      diversity.push_back(values[i + 2]);
    }
  }
  TraitThresholds t;
  t.activity_low = quantile(activity, 0.60);
  t.activity_high = quantile(activity, 0.90);
  t.conformity_low = quantile(conformity, 0.25);
  t.conformity_high = quantile(conformity, 0.80);
  t.diversity_low = quantile(diversity, 0.33);
  t.diversity_high = quantile(diversity, 0.66);
  return t;
}

void assign_traits(UserStats& s, const TraitThresholds& t) {
  s.activity = level(s.n_ratings, t.activity_low, t.activity_high);
  s.conformity = level(s.squared_gap, t.conformity_low, t.conformity_high);
  s.diversity = level(s.genre_spread, t.diversity_low, t.diversity_high);
}

const std::string& activity_sentence(int level) {
  static const std::string text[3] = {
      "An Incredibly Elusive Occasional Viewer, so seldom attracted by movie recommendations that it's almost a "
      "legendary event when you do watch a movie. Your movie-watching habits are extraordinarily infrequent. And you "
      "will exit the recommender system immediately even if you just feel little unsatisfied.",
      "An Occasional Viewer, seldom attracted by movie recommendations. Only curious about watching movies that "
      "strictly align the taste. The movie-watching habits are not very infrequent. And you tend to exit the "
      "recommender system if you have a few unsatisfied memories.",
      "A Movie Enthusiast with an insatiable appetite for films, willing to watch nearly every movie recommended to "
      "you. Movies are a central part of your life, and movie recommendations are integral to your existence. You "
      "are tolerant of recommender system, which means you are not easy to exit recommender system even if you have "
      "some unsatisfied memory."};
  return text[std::clamp(level, 1, 3) - 1];
}

const std::string& conformity_sentence(int level) {
  static const std::string text[3] = {
      "A Dedicated Follower who gives ratings heavily relies on movie historical ratings, rarely expressing "
      "independent opinions. Usually give ratings that are same as historical ratings.",
      "A Balanced Evaluator who considers both historical ratings and personal preferences when giving ratings to "
      "movies. Sometimes give ratings that are different from historical rating.",
      "A Maverick Critic who completely ignores historical ratings and evaluates movies solely based on own taste. "
      "Usually give ratings that are a lot different from historical ratings."};
  return text[std::clamp(level, 1, 3) - 1];
}

const std::string& diversity_sentence(int level) {
  static const std::string text[3] = {
      "An Exceedingly Discerning Selective Viewer who watches movies with a level of selectivity that borders on "
      "exclusivity. The movie choices are meticulously curated to match personal taste, leaving no room for even a "
      "hint of variety.",
      "A Niche Explorer who occasionally explores different genres and mostly sticks to preferred movie types.",
      "A Cinematic Trailblazer, a relentless seeker of the unique and the obscure in the world of movies. The movie "
      "choices are so diverse and avant-garde that they defy categorization."};
  return text[std::clamp(level, 1, 3) - 1];
}

std::string format_rating(float rating) {
  if (std::fabs(rating - std::round(rating)) < 1e-4) return fmt::format("{}", static_cast<int>(std::lround(rating)));
  return fmt::format("{:.1f}", rating);
}

std::string movie_label(const Item& item) {
  return item.year > 0 ? fmt::format("{} ({})", item.title, item.year) : item.title;
}

std::string genre_list(const Dataset& data, std::uint32_t genres) {
  std::vector<std::string> names;
  for (std::size_t g = 0; g < data.genre_names.size() && g < 32; ++g)
    if (genres & (1u << g)) names.push_back(data.genre_names[g]);
  return names.empty() ? "unknown genre" : join(names, ", ");
}

std::string describe_statistics(const Dataset& data, const UserStats& s) {
  auto genre_fact = [&](int g) {
    for (const auto& t : s.genres)
      if (t.genre == g) return fmt::format("{} ({:.1f} stars over {} movies)", data.genre_names[static_cast<std::size_t>(g)], t.mean, t.count);
    return std::string();
  };
  std::vector<std::string> liked, disliked, watched;
  for (int g : s.liked_genres) liked.push_back(genre_fact(g));
  for (int g : s.disliked_genres) disliked.push_back(genre_fact(g));
  for (std::size_t i = 0; i < s.genres.size() && i < 3; ++i)
    watched.push_back(data.genre_names[static_cast<std::size_t>(s.genres[i].genre)]);
  std::string text = fmt::format("{} movies rated, average {:.2f} stars, {:+.2f} stars compared with other viewers' average "
                                 "for the same movies (mean squared gap {:.2f}); most watched genres: {}",
                                 s.n_ratings, s.mean, s.offset, s.squared_gap, watched.empty() ? "none" : join(watched, ", "));
  if (!liked.empty()) text += "; rated highest: " + join(liked, ", ");
  if (!disliked.empty()) text += "; rated lowest: " + join(disliked, ", ");
  if (s.favourite_decade) text += fmt::format("; most watched decade: the {}s", s.favourite_decade);
  return text;
}

}  // namespace personas
