#include "cluster/persona_description.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "core/errors.h"
#include "embed/hashed_tfidf.h"

namespace personas {
namespace {

// Words too common to describe anyone (profiles are first-person English).
const std::set<std::string>& stop_words() {
  static const std::set<std::string> words = {
      "the", "and", "for", "with", "that", "this", "are", "but", "not", "you", "have", "has", "was", "were", "from",
      "they", "them", "their", "its", "it's", "into", "than", "then", "too", "very", "also", "more", "most", "some",
      "any", "all", "can", "will", "would", "could", "should", "about", "what", "when", "which", "who", "how", "like",
      "likes", "liked", "enjoy", "enjoys", "movies", "movie", "films", "film", "rated", "rate", "ratings", "rating",
      "user", "users", "i'm", "im", "my", "me", "our", "your", "his", "her", "she", "him", "one", "ones", "such",
      "other", "often", "tend", "tends", "i", "a", "an", "of", "to", "in", "on", "is", "be", "as", "or", "at", "by",
      "do", "does", "dont", "so", "if", "no", "yes", "because", "there", "these", "those", "being", "been", "just",
      "well", "much", "many", "out", "up", "over", "only", "rather", "quite", "really", "both", "each", "while"};
  return words;
}

std::vector<std::byte> pack(const std::map<std::string, std::vector<std::int64_t>>& counts) {
  std::vector<std::byte> out;
  auto put = [&](const void* p, std::size_t n) {
    const std::size_t at = out.size();
    out.resize(at + n);
    std::memcpy(out.data() + at, p, n);
  };
  for (const auto& [word, per] : counts) {
    const std::uint32_t len = static_cast<std::uint32_t>(word.size());
    put(&len, sizeof len);
    put(word.data(), len);
    put(per.data(), per.size() * sizeof(std::int64_t));
  }
  return out;
}

}  // namespace

nlohmann::json PersonaDescription::to_json() const {
  auto terms = [](const std::vector<DistinctiveTerm>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& t : v) a.push_back({{"name", t.name}, {"persona_share", t.persona_share}, {"overall_share", t.overall_share}});
    return a;
  };
  return {{"persona", persona}, {"size", size}, {"genres", terms(genres)}, {"words", terms(words)}, {"summary", summary}};
}

std::vector<PersonaDescription> describe_personas(Comm& comm, const Dataset& ds, const std::vector<std::int32_t>& labels,
                                                  const std::vector<std::string>& profile_texts, int k, int top) {
  PERSONAS_CHECK(labels.size() == ds.users.size(), internal, "describe_personas: {} labels for {} users", labels.size(),
                 ds.users.size());
  const std::size_t g_count = ds.genre_names.size();
  const std::size_t kk = static_cast<std::size_t>(k);
  // Genre rating counts per persona (+ a total column), users per persona.
  std::vector<std::int64_t> genre(kk * (g_count + 1), 0), size(kk, 0);
  for (std::size_t i = 0; i < ds.users.size(); ++i) {
    const auto p = static_cast<std::size_t>(labels[i]);
    ++size[p];
    for (const auto& it : ds.train_of(ds.users[i])) {
      const std::uint32_t bits = ds.items[static_cast<std::size_t>(it.item)].genres;
      for (std::size_t g = 0; g < g_count; ++g)
        if (bits & (1u << g)) ++genre[p * (g_count + 1) + g];
      ++genre[p * (g_count + 1) + g_count];
    }
  }
  comm.allreduce(std::span<std::int64_t>(genre), ReduceOp::sum);
  comm.allreduce(std::span<std::int64_t>(size), ReduceOp::sum);
  // Word document counts per persona, merged over ranks.
  std::map<std::string, std::vector<std::int64_t>> words;
  std::vector<std::int64_t> with_text(kk, 0);
  for (std::size_t i = 0; i < profile_texts.size() && i < labels.size(); ++i) {
    if (profile_texts[i].empty()) continue;
    const auto p = static_cast<std::size_t>(labels[i]);
    ++with_text[p];
    std::set<std::string> seen;
    for (auto& w : text_words(profile_texts[i]))
      if (w.size() >= 3 && !stop_words().count(w) && seen.insert(w).second) {
        auto& v = words[w];
        if (v.empty()) v.assign(kk, 0);
        ++v[p];
      }
  }
  comm.allreduce(std::span<std::int64_t>(with_text), ReduceOp::sum);
  std::map<std::string, std::vector<std::int64_t>> merged;
  for (const auto& part : comm.allgatherv(pack(words))) {
    std::size_t at = 0;
    while (at < part.size()) {
      std::uint32_t len = 0;
      std::memcpy(&len, part.data() + at, sizeof len);
      at += sizeof len;
      std::string w(reinterpret_cast<const char*>(part.data() + at), len);
      at += len;
      auto& v = merged[w];
      if (v.empty()) v.assign(kk, 0);
      for (std::size_t p = 0; p < kk; ++p) {
        std::int64_t c = 0;
        std::memcpy(&c, part.data() + at + p * sizeof c, sizeof c);
        v[p] += c;
      }
      at += kk * sizeof(std::int64_t);
    }
  }

  std::int64_t all_ratings = 0, all_text = 0;
  std::vector<std::int64_t> genre_all(g_count, 0);
  for (std::size_t p = 0; p < kk; ++p) {
    all_ratings += genre[p * (g_count + 1) + g_count];
    all_text += with_text[p];
    for (std::size_t g = 0; g < g_count; ++g) genre_all[g] += genre[p * (g_count + 1) + g];
  }
  std::vector<PersonaDescription> out(kk);
  for (std::size_t p = 0; p < kk; ++p) {
    PersonaDescription& d = out[p];
    d.persona = static_cast<int>(p);
    d.size = size[p];
    const double ratings = static_cast<double>(genre[p * (g_count + 1) + g_count]);
    for (std::size_t g = 0; g < g_count && ratings > 0; ++g) {
      const double mine = static_cast<double>(genre[p * (g_count + 1) + g]) / ratings;
      const double all = static_cast<double>(genre_all[g]) / static_cast<double>(std::max<std::int64_t>(all_ratings, 1));
      if (mine > all) d.genres.push_back({ds.genre_names[g], mine, all});
    }
    for (const auto& [w, v] : merged) {
      if (with_text[p] == 0 || v[p] < 2) continue;
      std::int64_t total = 0;
      for (auto c : v) total += c;
      const double mine = static_cast<double>(v[p]) / static_cast<double>(with_text[p]);
      const double all = static_cast<double>(total) / static_cast<double>(std::max<std::int64_t>(all_text, 1));
      if (mine > all) d.words.push_back({w, mine, all});
    }
    auto by_gap = [](const DistinctiveTerm& a, const DistinctiveTerm& b) {
      const double ga = a.persona_share - a.overall_share, gb = b.persona_share - b.overall_share;
      return ga > gb || (ga == gb && a.name < b.name);
    };
    std::sort(d.genres.begin(), d.genres.end(), by_gap);
    std::sort(d.words.begin(), d.words.end(), by_gap);
    if (d.genres.size() > static_cast<std::size_t>(top)) d.genres.resize(static_cast<std::size_t>(top));
    if (d.words.size() > static_cast<std::size_t>(top)) d.words.resize(static_cast<std::size_t>(top));
    std::string g_list, w_list;
    for (const auto& t : d.genres) g_list += (g_list.empty() ? "" : ", ") + t.name;
    for (const auto& t : d.words) w_list += (w_list.empty() ? "" : ", ") + t.name;
    d.summary = fmt::format("{} users; more {} than average{}", d.size, g_list.empty() ? "of nothing in particular" : g_list,
                            w_list.empty() ? "" : "; profiles say: " + w_list);
  }
  return out;
}

}  // namespace personas
