#include "distill/llm_distiller.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/log.h"
#include "core/strings.h"

namespace personas {

bool extract_json_object(const std::string& text, nlohmann::json& out, std::string& error) {
  auto open = text.find('{');
  auto close = text.rfind('}');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    error = text.find('{') == std::string::npos ? "the answer holds no JSON object"
                                                : "the JSON object is not closed (answer cut short?)";
    return false;
  }
  auto parsed = nlohmann::json::parse(text.substr(open, close - open + 1), nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    error = "the answer is not valid JSON";
    return false;
  }
  out = std::move(parsed);
  return true;
}

std::string truncate_words(const std::string& text, std::size_t max_words) {
  std::size_t words = 0, i = 0, n = text.size();
  while (i < n) {
    while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= n) break;
    if (words == max_words) return std::string(trim(std::string_view(text).substr(0, i)));
    ++words;
    while (i < n && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  }
  return text;
}

struct LlmDistiller::Conversation {
  const Dataset* data = nullptr;
  const User* user = nullptr;
  const UserStats* stats = nullptr;
  UserOutcome outcome;
  std::function<void(UserOutcome&&)> done;
  std::string profile;
  int n_batches = 0;
  int step = 0;               // 0..n_batches-1 = batches, n_batches = reflection
  std::vector<ChatMessage> messages;
  ChatOptions options;        // settings_.chat + the answer shape of this step
  bool repaired = false, shortened = false;
  std::string statistics, traits;
};

LlmDistiller::LlmDistiller(ChatBackend& client, PromptSet prompts, LlmDistillSettings settings)
    : client_(client), prompts_(std::move(prompts)), settings_(std::move(settings)) {}

void LlmDistiller::start(const Dataset& data, const User& user, std::int64_t index, const UserStats& stats,
                         std::function<void(UserOutcome&&)> done) {
  auto c = std::make_shared<Conversation>();
  c->data = &data;
  c->user = &user;
  c->stats = &stats;
  c->done = std::move(done);
  c->outcome.index = index;
  c->outcome.user_id = user.id;
  auto& m = c->outcome.memory;
  m.user_id = user.id;
  m.activity = activity_sentence(stats.activity);
  m.conformity = conformity_sentence(stats.conformity);
  m.diversity = diversity_sentence(stats.diversity);
  m.provider = settings_.provider;
  m.model = client_.model();
  m.prompt_version = prompts_.version;
  c->n_batches = (user.n_train + settings_.batch_size - 1) / settings_.batch_size;
  c->statistics = describe_statistics(data, stats);
  c->traits = m.activity + " " + m.conformity + " " + m.diversity;
  c->profile = "(nothing yet: this is my first batch)";
  if (c->n_batches == 0) return finish(c, false, "no training-period interactions");
  begin_step(c);
}

void LlmDistiller::begin_step(const std::shared_ptr<Conversation>& c) {
  c->repaired = c->shortened = false;
  std::string prompt;
  auto words = std::to_string(settings_.max_words);
  if (c->step < c->n_batches) {
    auto train = c->data->train_of(*c->user);
    auto begin = static_cast<std::size_t>(c->step) * static_cast<std::size_t>(settings_.batch_size);
    auto end = std::min(train.size(), begin + static_cast<std::size_t>(settings_.batch_size));
    std::string items;
    for (std::size_t i = begin; i < end; ++i) {
      const Item& item = c->data->items[static_cast<std::size_t>(train[i].item)];
      items += fmt::format("{}. \"{}\"; genres: {}; {}; my rating: {} stars\n", i - begin + 1, movie_label(item),
                           genre_list(*c->data, item.genres),
                           item.train_count > 1 ? fmt::format("average rating by viewers: {:.1f}", item.train_mean)
                                                : std::string("no average rating yet"),
                           format_rating(train[i].rating));
    }
    prompt = fill_template(prompts_.batch,
                           {{"profile", c->profile},
                            {"statistics", c->statistics},
                            {"n_items", std::to_string(end - begin)},
                            {"batch", std::to_string(c->step + 1)},
                            {"n_batches", std::to_string(c->n_batches)},
                            {"items", items},
                            {"max_words", words}},
                           "batch.txt");
  } else {
    prompt = fill_template(prompts_.reflect,
                           {{"profile", c->profile}, {"statistics", c->statistics}, {"traits", c->traits}, {"max_words", words}},
                           "reflect.txt");
  }
  c->messages = {{"system", prompts_.system}, {"user", prompt}};
  c->options = settings_.chat;
  c->options.shape.known = true;
  c->options.shape.n_notes = -1;
  c->options.shape.note_hints.clear();
  if (c->step < c->n_batches) {
    auto train = c->data->train_of(*c->user);
    auto n_train = static_cast<int>(train.size());
    c->options.shape.n_notes = std::min(settings_.batch_size, n_train - c->step * settings_.batch_size);
    for (int k = 0; k < c->options.shape.n_notes; ++k) {
      const auto& rating = train[static_cast<std::size_t>(c->step * settings_.batch_size + k)];
      c->options.shape.note_hints.push_back(
          {movie_label(c->data->items[static_cast<std::size_t>(rating.item)]), format_rating(rating.rating)});
    }
  }
  send(c);
}

void LlmDistiller::send(const std::shared_ptr<Conversation>& c) {
  ++c->outcome.calls;
  client_.chat_async(c->messages, c->options, [this, c](ChatResult&& r) { on_answer(c, std::move(r)); });
}

void LlmDistiller::finish(const std::shared_ptr<Conversation>& c, bool ok, std::string reason) {
  c->outcome.ok = ok;
  c->outcome.reason = std::move(reason);
  if (!ok) c->outcome.memory = {};
  auto done = std::move(c->done);
  done(std::move(c->outcome));
}

void LlmDistiller::on_answer(const std::shared_ptr<Conversation>& c, ChatResult&& answer) {
  bool reflecting = c->step >= c->n_batches;
  std::string where = reflecting ? std::string("reflection") : fmt::format("batch {}/{}", c->step + 1, c->n_batches);
  if (!answer.ok()) return finish(c, false, fmt::format("{}: provider failed: {}", where, answer.error));

  // Parse and check the answer's shape.
  nlohmann::json j;
  std::string error;
  auto train = c->data->train_of(*c->user);
  auto begin = static_cast<std::size_t>(c->step) * static_cast<std::size_t>(settings_.batch_size);
  auto n_items = reflecting ? 0 : std::min(train.size() - begin, static_cast<std::size_t>(settings_.batch_size));
  std::vector<std::string> reasons(n_items);
  bool valid = extract_json_object(answer.text, j, error);
  if (valid && (!j.contains("profile") || !j["profile"].is_string() || trim(j["profile"].get<std::string>()).empty())) {
    valid = false;
    error = "\"profile\" must be a non-empty string";
  }
  if (valid && !reflecting) {
    if (!j.contains("notes") || !j["notes"].is_array()) {
      valid = false;
      error = "\"notes\" must be an array";
    } else {
      for (const auto& note : j["notes"]) {
        if (!note.is_object() || !note.contains("item") || !note["item"].is_number_integer() || !note.contains("reason") ||
            !note["reason"].is_string())
          continue;
        auto k = note["item"].get<std::int64_t>();
        if (k >= 1 && k <= static_cast<std::int64_t>(n_items) && reasons[static_cast<std::size_t>(k - 1)].empty())
          reasons[static_cast<std::size_t>(k - 1)] = std::string(trim(note["reason"].get<std::string>()));
      }
      std::vector<std::string> missing;
      for (std::size_t k = 0; k < n_items; ++k)
        if (reasons[k].empty()) missing.push_back(std::to_string(k + 1));
      if (!missing.empty()) {
        valid = false;
        error = fmt::format("no usable note (an object with an integer \"item\" and a string \"reason\") for movie(s) {}",
                            join(missing, ", "));
      }
    }
  }
  if (!valid) {
    if (answer.finish_reason == "length") error += " (the answer was cut at max_tokens)";
    if (c->repaired) return finish(c, false, fmt::format("{}: answer not usable after one repair request: {}", where, error));
    c->repaired = true;
    c->messages.push_back({"assistant", answer.text});
    c->messages.push_back({"user", fill_template(prompts_.repair, {{"error", error}}, "repair.txt")});
    return send(c);
  }

  std::string profile(trim(j["profile"].get<std::string>()));
  auto words = count_words(profile);
  if (words > static_cast<std::size_t>(settings_.max_words)) {
    if (!c->shortened) {
      c->shortened = true;
      c->messages.push_back({"assistant", answer.text});
      c->messages.push_back({"user", fill_template(prompts_.shorten,
                                                   {{"words", std::to_string(words)},
                                                    {"max_words", std::to_string(settings_.max_words)}},
                                                   "shorten.txt")});
      return send(c);
    }
    auto warning = fmt::format("user {} {}: profile still {} words after a request to shorten; truncated to {}",
                               c->user->id, where, words, settings_.max_words);
    plog::warn("{}", warning);
    c->outcome.warnings.push_back(warning);
    profile = truncate_words(profile, static_cast<std::size_t>(settings_.max_words));
  }
  c->profile = profile;
  for (std::size_t k = 0; k < n_items; ++k) {
    const auto& x = train[begin + k];
    std::string reason = reasons[k];
    if (starts_with(to_lower(reason.substr(0, 8)), "because ")) reason = reason.substr(8);
    while (!reason.empty() && (reason.back() == '.' || reason.back() == ' ')) reason.pop_back();
    c->outcome.memory.notes.push_back(
        {x.item, x.rating,
         fmt::format("I rated {} as {} because {}.", movie_label(c->data->items[static_cast<std::size_t>(x.item)]),
                     format_rating(x.rating), reason)});
  }
  ++c->step;
  if (c->step < c->n_batches || (c->step == c->n_batches && settings_.reflection)) return begin_step(c);
  c->outcome.memory.profile = c->profile;
  finish(c, true, {});
}

}  // namespace personas
