#include "distill/offline_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/strings.h"

namespace personas {

namespace {

const GenreTaste* taste_of(const UserStats& s, int genre) {
  for (const auto& g : s.genres)
    if (g.genre == genre) return &g;
  return nullptr;
}

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

const std::string& genre_name(const Dataset& data, int g) { return data.genre_names[static_cast<std::size_t>(g)]; }

std::string first_person_traits(const UserStats& s) {
  static const char* activity[3] = {"I watch movies only rarely and give up quickly on recommendations I do not like",
                                    "I watch movies now and then, mostly ones that fit my taste",
                                    "I watch a great many movies and happily try most recommendations"};
  static const char* conformity[3] = {"my ratings usually agree with what other viewers think",
                                      "my ratings sometimes differ from the crowd's",
                                      "my ratings often differ a lot from the crowd's, since I go by my own taste"};
  static const char* diversity[3] = {"I stick to a narrow range of genres",
                                     "I mostly stay with my favourite genres but explore now and then",
                                     "I watch a very wide range of genres"};
  return fmt::format("As a viewer, {}; {}; and {}.", activity[s.activity - 1], conformity[s.conformity - 1],
                     diversity[s.diversity - 1]);
}

std::string genre_phrase(const Dataset& data, const UserStats& s, const std::vector<int>& genres) {
  std::vector<std::string> parts;
  for (int g : genres) {
    const auto* t = taste_of(s, g);
    parts.push_back(fmt::format("{} ({:.1f} stars on average over {} movies)", genre_name(data, g), t ? t->mean : 0.0,
                                t ? t->count : 0));
  }
  if (parts.size() <= 1) return parts.empty() ? "" : parts[0];
  auto last = parts.back();
  parts.pop_back();
  return join(parts, ", ") + " and " + last;
}

std::string era_phrase(const UserStats& s) {
  if (s.eras.empty()) return {};
  std::string text = fmt::format("Most of the movies I watch are from the {}s.", s.favourite_decade);
  const EraTaste *best = nullptr, *worst = nullptr;
  for (const auto& e : s.eras) {
    if (e.count < 3) continue;
    if (!best || e.mean > best->mean) best = &e;
    if (!worst || e.mean < worst->mean) worst = &e;
  }
  if (best && worst && best != worst && best->mean - worst->mean >= 0.3)
    text += fmt::format(" I rate movies from the {}s highest ({:.1f} stars over {} movies) and those from the {}s "
                        "lowest ({:.1f} stars over {}).",
                        best->decade, best->mean, best->count, worst->decade, worst->mean, worst->count);
  int old_n = 0;
  double old_sum = 0;
  for (const auto& e : s.eras)
    if (e.decade < 1980) {
      old_n += e.count;
      old_sum += e.mean * e.count;
    }
  if (old_n >= 3) {
    double old_mean = old_sum / old_n;
    if (old_mean >= s.mean + 0.3)
      text += fmt::format(" I have a soft spot for older classics from before 1980 ({:.1f} stars).", old_mean);
    else if (old_mean <= s.mean - 0.3)
      text += fmt::format(" Older movies from before 1980 rarely win me over ({:.1f} stars).", old_mean);
  }
  return text;
}

}  // namespace

std::string offline_reason(const Dataset& data, const Item& item, float rating, const UserStats& s) {
  // The item's genre that best explains the rating: the user's highest-rated
  // of its genres for a good rating, the lowest-rated for a bad one.
  double diff = rating - s.mean;
  int chosen = -1;
  double chosen_mean = 0;
  for (std::size_t g = 0; g < data.genre_names.size() && g < 32; ++g) {
    if (!(item.genres & (1u << g))) continue;
    const auto* t = taste_of(s, static_cast<int>(g));
    double m = t ? t->mean : s.mean;
    if (chosen < 0 || (diff >= 0 ? m > chosen_mean : m < chosen_mean)) {
      chosen = static_cast<int>(g);
      chosen_mean = m;
    }
  }
  std::string reason;
  if (chosen < 0) {
    reason = diff >= 0.5    ? "it really worked for me"
             : diff <= -0.5 ? "it did not work for me"
                            : "it was about what I expected";
  } else {
    const auto& g = genre_name(data, chosen);
    if (diff >= 0.5) {
      if (contains(s.liked_genres, chosen))
        reason = fmt::format("I love {} movies and this one delivered", g);
      else if (chosen_mean >= s.mean)
        reason = fmt::format("{} is a genre I enjoy and this one stood out", g);
      else
        reason = fmt::format("it won me over even though {} movies are usually not my favourite", g);
    } else if (diff <= -0.5) {
      if (contains(s.disliked_genres, chosen))
        reason = fmt::format("{} movies rarely work for me", g);
      else if (chosen_mean > s.mean)
        reason = fmt::format("even though I usually enjoy {} movies, this one disappointed me", g);
      else
        reason = fmt::format("{} is not a genre I rate highly", g);
    } else {
      reason = fmt::format("it was a decent {} movie, about what I expect from the genre", g);
    }
  }
  if (item.train_count > 1) {
    double gap = rating - item.train_mean;
    if (gap >= 1.0)
      reason += fmt::format(", and I liked it much more than most viewers (average {:.1f})", item.train_mean);
    else if (gap <= -1.0)
      reason += fmt::format(", and I was harder on it than most viewers (average {:.1f})", item.train_mean);
    else
      reason += fmt::format(", close to the average viewer's {:.1f}", item.train_mean);
  }
  if (item.year > 0 && item.year / 10 * 10 == s.favourite_decade && diff >= 0.5)
    reason += fmt::format("; I enjoy films from the {}s", s.favourite_decade);
  return reason;
}

UserMemory write_offline_memory(const Dataset& data, const User& user, const UserStats& s) {
  UserMemory m;
  m.user_id = user.id;
  m.activity = activity_sentence(s.activity);
  m.conformity = conformity_sentence(s.conformity);
  m.diversity = diversity_sentence(s.diversity);
  m.provider = "offline";
  m.model = "offline";
  m.prompt_version = kOfflineWriterVersion;

  auto train = data.train_of(user);
  std::vector<std::string> paragraphs;
  std::string rater = std::fabs(s.offset) < 0.15 ? "in line with what other viewers gave the same movies"
                      : s.offset > 0
                          ? fmt::format("{:.1f} stars above what other viewers gave the same movies, so I am a generous rater", s.offset)
                          : fmt::format("{:.1f} stars below what other viewers gave the same movies, so I am a demanding rater", -s.offset);
  paragraphs.push_back(fmt::format("I have rated {} movies. My average rating is {:.1f} stars, {}.", s.n_ratings, s.mean, rater));
  std::string genres;
  if (!s.liked_genres.empty()) genres += "My favourite genres are " + genre_phrase(data, s, s.liked_genres) + ". ";
  if (!s.disliked_genres.empty()) genres += "I tend to dislike " + genre_phrase(data, s, s.disliked_genres) + ". ";
  {
    std::vector<int> top;
    for (std::size_t i = 0; i < s.genres.size() && i < 3; ++i) top.push_back(s.genres[i].genre);
    if (!top.empty()) {
      std::vector<std::string> names;
      for (int g : top) names.push_back(genre_name(data, g));
      genres += "The genres I watch most are " + join(names, ", ") + ".";
    }
  }
  if (!genres.empty()) paragraphs.push_back(std::string(trim(genres)));
  if (auto era = era_phrase(s); !era.empty()) paragraphs.push_back(era);

  // Favourites and least favourites: highest/lowest ratings, ties by time order.
  std::vector<std::size_t> order(train.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return train[a].rating > train[b].rating; });
  std::vector<std::string> loved, hated;
  for (std::size_t k = 0; k < order.size() && loved.size() < 5; ++k)
    if (train[order[k]].rating >= std::max(4.0, s.mean + 0.5))
      loved.push_back(fmt::format("{} ({} stars)", movie_label(data.items[static_cast<std::size_t>(train[order[k]].item)]),
                                  format_rating(train[order[k]].rating)));
  for (std::size_t k = order.size(); k-- > 0 && hated.size() < 5;)
    if (train[order[k]].rating <= std::min(2.0, s.mean - 0.5))
      hated.push_back(fmt::format("{} ({} stars)", movie_label(data.items[static_cast<std::size_t>(train[order[k]].item)]),
                                  format_rating(train[order[k]].rating)));
  std::string picks;
  if (!loved.empty()) picks += "Movies I loved include " + join(loved, ", ") + ". ";
  if (!hated.empty()) picks += "Movies I did not enjoy include " + join(hated, ", ") + ".";
  if (!picks.empty()) paragraphs.push_back(std::string(trim(picks)));
  paragraphs.push_back(first_person_traits(s));
  m.profile = join(paragraphs, "\n");

  for (const auto& x : train) {
    const Item& item = data.items[static_cast<std::size_t>(x.item)];
    m.notes.push_back({x.item, x.rating,
                       fmt::format("I rated {} as {} because {}.", movie_label(item), format_rating(x.rating),
                                   offline_reason(data, item, x.rating, s))});
  }
  return m;
}

}  // namespace personas
