#include "train/prompt.h"

#include <fmt/format.h>

#include <cmath>

#include "core/errors.h"
#include "core/strings.h"

namespace personas {

std::string first_words(const std::string& text, int n_words) {
  if (n_words < 0) return text;
  // Words are runs of non-space bytes, as `istream >> word` reads them.
  std::string out;
  std::size_t pos = 0;
  for (int i = 0; i < n_words; ++i) {
    while (pos < text.size() && is_ascii_space(text[pos])) ++pos;
    if (pos == text.size()) break;
    const std::size_t begin = pos;
    while (pos < text.size() && !is_ascii_space(text[pos])) ++pos;
    if (!out.empty()) out += ' ';
    out.append(text, begin, pos - begin);
  }
  return out;
}

std::string genre_list(const Dataset& data, const Item& item) {
  std::string out;
  for (std::size_t g = 0; g < data.genre_names.size() && g < 32; ++g) {
    if (!(item.genres & (1u << g))) continue;
    if (!out.empty()) out += ", ";
    out += data.genre_names[g];
  }
  return out.empty() ? "unknown" : out;
}

std::string describe_item(const Dataset& data, const ItemLine& line) {
  const Item& item = *line.item;
  std::string title = item.year > 0 ? fmt::format("{} ({})", item.title, item.year) : item.title;
  std::string average = line.count > 0 ? fmt::format("average rating {:.1f} from {} ratings", line.average, line.count)
                                       : std::string("no ratings yet");
  std::string out = fmt::format("{}; genres: {}; {}", title, genre_list(data, item), average);
  if (line.estimate) out += fmt::format("; my expected rating {:.1f}", *line.estimate);
  return out;
}

std::string render_answer(int rating, const ItemNote* note, bool with_reason, int reason_words) {
  std::string digit = std::to_string(rating);
  if (!with_reason || note == nullptr) return digit;
  std::string reason = note->text;
  if (auto at = reason.find("because "); at != std::string::npos) reason = reason.substr(at + 8);
  reason = first_words(std::string(trim(reason)), reason_words);
  while (!reason.empty() && (reason.back() == '.' || reason.back() == ',')) reason.pop_back();
  if (reason.empty()) return digit;
  return fmt::format("{} because {}.", digit, reason);
}

namespace {

std::string traits(const UserMemory& m) {
  std::string out;
  for (const std::string* t : {&m.activity, &m.conformity, &m.diversity}) {
    auto s = std::string(trim(*t));
    if (s.empty()) continue;
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

PromptParts render_paper(const PromptInputs& in) {
  const UserMemory& m = *in.memory;
  PromptParts p;
  std::string profile = first_words(std::string(trim(m.profile)), in.profile_words);
  p.system = "You are a movie viewer in a recommender system. Rate movies exactly as the person described below would.\n\n"
             "PERSONA:\n" + (in.traits ? traits(m) : std::string());
  if (!profile.empty()) p.system += "\n" + profile;
  std::string user;
  if (!in.retrieved.empty()) {
    user += "YOUR MEMORIES:\n";
    for (const ItemNote* note : in.retrieved) user += "- " + std::string(trim(note->text)) + "\n";
    user += "\n";
  }
  user += "TASK: Based on your persona and memories, rate the movie below on a scale of 1 to 5 "
          "(1 = hated it, 5 = loved it). Answer with one digit.\n\n";
  user += "MOVIE: " + describe_item(*in.data, in.target) + "\n\nRATING:";
  p.user = std::move(user);
  return p;
}

PromptParts render_compact(const PromptInputs& in) {
  const UserMemory& m = *in.memory;
  PromptParts p;
  std::string profile = first_words(std::string(trim(m.profile)), in.profile_words);
  p.system = in.traits ? traits(m) : std::string();
  if (!profile.empty()) p.system += (p.system.empty() ? "" : " ") + profile;
  std::string user;
  for (const ItemNote* note : in.retrieved) user += "Memory: " + std::string(trim(note->text)) + "\n";
  user += "Movie: " + describe_item(*in.data, in.target) + "\nRate 1-5:";
  p.user = std::move(user);
  return p;
}

}  // namespace

PromptParts render_prompt(PromptStyle style, const PromptInputs& in) {
  PERSONAS_ASSERT(in.data && in.memory && in.target.item, "render_prompt: missing inputs");
  return style == PromptStyle::paper ? render_paper(in) : render_compact(in);
}

}  // namespace personas
