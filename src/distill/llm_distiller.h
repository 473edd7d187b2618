// The LLM providers' conversation for one user (hierarchical self-reflection,
// PAPER.md stage 1): the training period in time order, in batches of at most
// batch_size interactions; each batch asks for a note per item and the updated
// profile; after the last batch a self-reflection round checks the profile
// against the user's statistics and traits. Answers are JSON: an unusable one
// gets one repair request, then the user fails with the reason; a profile over
// max_words gets one request to shorten, then is truncated with a warning.
// Many users run at once on one ChatBackend (each has at most one request in
// flight); the backend's run() drives them all. Each request carries the
// AnswerShape it asks for (the local engine's scaffold mode builds it).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "distill/chat_backend.h"
#include "distill/memories.h"
#include "distill/prompts.h"
#include "distill/user_stats.h"

namespace personas {

struct UserOutcome {
  std::int64_t index = 0;      // selection index of the user
  std::int64_t user_id = 0;
  bool ok = false;
  UserMemory memory;           // when ok
  std::string reason;          // when not ok
  std::vector<std::string> warnings;
  int calls = 0;               // chat requests made for this user
};

struct LlmDistillSettings {
  std::string provider = "openai";
  int batch_size = 10;
  int max_words = 2000;
  bool reflection = true;
  ChatOptions chat;
};

class LlmDistiller {
 public:
  LlmDistiller(ChatBackend& client, PromptSet prompts, LlmDistillSettings settings);
  // Starts the user's conversation; `done` runs inside client.run(). `data`
  // and `stats` must outlive the run.
  void start(const Dataset& data, const User& user, std::int64_t index, const UserStats& stats,
             std::function<void(UserOutcome&&)> done);

 private:
  struct Conversation;
  void send(const std::shared_ptr<Conversation>& c);
  void on_answer(const std::shared_ptr<Conversation>& c, ChatResult&& answer);
  void begin_step(const std::shared_ptr<Conversation>& c);
  void finish(const std::shared_ptr<Conversation>& c, bool ok, std::string reason);
  ChatBackend& client_;
  PromptSet prompts_;
  LlmDistillSettings settings_;
};

// The JSON object in an answer: tolerates code fences and text around it.
// Returns false with a reason when there is none.
bool extract_json_object(const std::string& text, nlohmann::json& out, std::string& error);
// The first `max_words` whitespace-separated words of `text`.
std::string truncate_words(const std::string& text, std::size_t max_words);

}  // namespace personas
