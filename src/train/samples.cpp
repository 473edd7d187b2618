#include "train/samples.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/errors.h"
#include "core/strings.h"
#include "model/tokenizer.h"
#include "train/rating_estimate.h"

namespace personas {

EncodedPrompt ChatTemplateEncoder::encode(const PromptParts& parts) const {
  std::vector<ChatMessage> messages;
  if (!parts.system.empty()) messages.push_back({"system", parts.system});
  messages.push_back({"user", parts.user});
  const std::string prompt = tokenizer_.apply_chat_template(messages, /*add_generation_prompt=*/true);
  EncodedPrompt out;
  out.ids = tokenizer_.encode(prompt, /*add_bos=*/false);
  out.answer_begin = static_cast<int>(out.ids.size());
  if (parts.answer.empty()) return out;
  messages.push_back({"assistant", parts.answer});
  const std::string full = tokenizer_.apply_chat_template(messages, /*add_generation_prompt=*/false);
  PERSONAS_ASSERT(starts_with(full, prompt), "chat template: the conversation does not start with its prompt");
  auto full_ids = tokenizer_.encode(full, false);
  if (full_ids.size() > out.ids.size() && std::equal(out.ids.begin(), out.ids.end(), full_ids.begin())) {
    out.ids = std::move(full_ids);
  } else {
    // The tokenisation merged across the boundary: encode the answer part on its own.
    auto tail = tokenizer_.encode(std::string_view(full).substr(prompt.size()), false);
    out.ids.insert(out.ids.end(), tail.begin(), tail.end());
  }
  return out;
}

int validation_count(int n_train, double val_fraction) {
  if (val_fraction <= 0 || n_train < 2) return 0;
  const int n = static_cast<int>(std::lround(val_fraction * n_train));
  return std::clamp(n, 1, n_train - 1);
}

namespace {

struct Fitted {
  EncodedPrompt encoded;
  bool shortened = false;
  bool fits = false;
};

// Renders and encodes; when too long, halves the profile until it is gone,
// then drops retrieved memories (least similar first).
// `profile_words` is count_words(profile), counted once per user by the callers.
Fitted fit_prompt(PromptInputs in, int profile_words, const PromptEncoder& encoder, const SampleOptions& options,
                  const std::string& answer) {
  Fitted f;
  if (options.profile_words > 0 && options.profile_words < profile_words) {
    profile_words = options.profile_words;
    in.profile_words = profile_words;
  }
  in.traits = options.traits;
  for (;;) {
    auto parts = render_prompt(options.style, in);
    parts.answer = answer;
    f.encoded = encoder.encode(parts);
    if (static_cast<int>(f.encoded.ids.size()) <= options.max_len) {
      f.fits = true;
      return f;
    }
    f.shortened = true;
    if (profile_words > 0) {
      profile_words /= 2;
      in.profile_words = profile_words;
    } else if (!in.retrieved.empty()) {
      in.retrieved.pop_back();
    } else {
      return f;
    }
  }
}

}  // namespace

void append_user_samples(const Dataset& data, std::size_t u, const UserMemory& memory, const ItemVectors& vectors,
                         const PromptEncoder& encoder, const SampleOptions& options, std::vector<Sample>& out,
                         SampleStats& stats) {
  const User& user = data.users[u];
  const auto train = data.train_of(user);
  const auto positions = note_positions(train, memory.notes);
  std::unordered_map<std::int32_t, const ItemNote*> note_of_item;
  for (const auto& n : memory.notes) note_of_item.emplace(n.item, &n);
  const int n_val = validation_count(user.n_train, options.val_fraction);
  const int profile_words = static_cast<int>(count_words(memory.profile));
  std::optional<UserRatingEstimate> estimate;
  if (options.estimate_mean) estimate.emplace(data, user, *options.estimate_mean);
  for (std::int32_t t = 0; t < static_cast<std::int32_t>(train.size()); ++t) {
    const Interaction& x = train[static_cast<std::size_t>(t)];
    PERSONAS_CHECK(x.item >= 0 && x.item < static_cast<std::int32_t>(data.items.size()), data,
                   "user {}: interaction {} names item index {} outside the {} items", user.id, t, x.item,
                   data.items.size());
    const Item& item = data.items[static_cast<std::size_t>(x.item)];
    PromptInputs in;
    in.data = &data;
    in.memory = &memory;
    // Leave-one-out: the item's training-period average without this very
    // rating, so the prompt never contains a trace of its own answer.
    in.target.item = &item;
    in.target.count = std::max(0, item.train_count - 1);
    in.target.average =
        in.target.count > 0 ? (item.train_mean * item.train_count - x.rating) / in.target.count : 0.0;
    if (estimate) in.target.estimate = estimate->leaving_out(t);
    for (int i : retrieve_notes(vectors, memory.notes, positions, x.item, t, options.retrieve_k))
      in.retrieved.push_back(&memory.notes[static_cast<std::size_t>(i)]);
    auto note = note_of_item.find(x.item);
    const std::string answer =
        render_answer(static_cast<int>(std::lround(x.rating)), note == note_of_item.end() ? nullptr : note->second,
                      options.answer_with_reason, options.reason_words);
    auto fitted = fit_prompt(std::move(in), profile_words, encoder, options, answer);
    if (!fitted.fits) {
      ++stats.n_dropped;
      continue;
    }
    Sample s;
    s.user = static_cast<std::int32_t>(u);
    s.user_id = user.id;
    s.item = x.item;
    s.position = t;
    s.rating = x.rating;
    s.validation = t >= user.n_train - n_val;
    s.shortened = fitted.shortened;
    s.ids = std::move(fitted.encoded.ids);
    s.answer_begin = fitted.encoded.answer_begin;
    if (options.answer_tokens > 0)
      s.ids.resize(std::min(s.ids.size(), static_cast<std::size_t>(s.answer_begin + options.answer_tokens)));
    stats.n_tokens += static_cast<std::int64_t>(s.ids.size());
    stats.n_shortened += s.shortened ? 1 : 0;
    (s.validation ? stats.n_validation : stats.n_train) += 1;
    out.push_back(std::move(s));
  }
}

std::vector<Sample> build_training_samples(const Dataset& data, const std::vector<UserMemory>& memories,
                                           const ItemVectors& vectors, const PromptEncoder& encoder,
                                           const SampleOptions& options, SampleStats* stats) {
  SampleStats local;
  std::unordered_map<std::int64_t, const UserMemory*> by_id;
  for (const auto& m : memories) by_id.emplace(m.user_id, &m);
  std::vector<Sample> out;
  for (std::size_t u = 0; u < data.users.size(); ++u) {
    auto it = by_id.find(data.users[u].id);
    if (it == by_id.end()) {
      ++local.n_users_without_memory;
      continue;
    }
    append_user_samples(data, u, *it->second, vectors, encoder, options, out, local);
  }
  if (stats) *stats = local;
  return out;
}

EncodedPrompt build_eval_prompt(const Dataset& data, const User& user, const UserMemory& memory,
                                const ItemVectors& vectors, const PromptEncoder& encoder,
                                const SampleOptions& options, std::int32_t item, bool* shortened) {
  PERSONAS_CHECK(item >= 0 && item < static_cast<std::int32_t>(data.items.size()), data,
                 "user {}: item index {} outside the {} items", user.id, item, data.items.size());
  const auto train = data.train_of(user);
  const auto positions = note_positions(train, memory.notes);
  PromptInputs in;
  in.data = &data;
  in.memory = &memory;
  const Item& it = data.items[static_cast<std::size_t>(item)];
  in.target = {&it, it.train_mean, it.train_count, std::nullopt};
  if (options.estimate_mean) in.target.estimate = UserRatingEstimate(data, user, *options.estimate_mean).for_item(item);
  for (int i : retrieve_notes(vectors, memory.notes, positions, item, static_cast<std::int32_t>(train.size()),
                              options.retrieve_k))
    in.retrieved.push_back(&memory.notes[static_cast<std::size_t>(i)]);
  auto fitted = fit_prompt(std::move(in), static_cast<int>(count_words(memory.profile)), encoder, options, "");
  PERSONAS_CHECK(fitted.fits, data,
                 "user {}: the prompt for item {} does not fit in {} tokens even without profile and memories",
                 user.id, it.title, options.max_len);
  if (shortened) *shortened = fitted.shortened;
  return std::move(fitted.encoded);
}

}  // namespace personas
