// ChatBackend: who answers the distiller's chats. LlmDistiller (the
// conversation logic) talks only to this interface; it is implemented by
// LlmClient (OpenAI-compatible HTTP, many requests in flight) and by
// LocalChatClient (our own engine on a checkpoint, distill.provider = local).
// chat_async() queues a chat; run() drives every queued chat to completion,
// calling each `done` inside run() (a callback may queue more chats). A
// failure of one chat is reported in its result, never thrown.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/tokenizer.h"  // ChatMessage {role, content}: one type for the HTTP API and the chat template

namespace personas {

// The JSON answer a chat asks for. Backends that cannot rely on the model to
// write JSON (the local engine's scaffold mode) build this structure
// themselves and generate only its strings; the HTTP client ignores it.
struct AnswerShape {
  bool known = false;   // false: free text (no structure known)
  int n_notes = -1;     // >= 0: {"notes": [{"item": k, "reason": "..."} for k = 1..n_notes], "profile": "..."}
                        // -1:   {"profile": "..."}
  // Per note (when given): the movie and the stars the prompt listed as item
  // k. The local scaffold shows them to the model on the note's line
  // ("1. Kolya (1996), 4 stars: I gave it 4 stars because "), so that a small
  // model writes the reason next to what it is about.
  struct NoteHint {
    std::string movie, stars;
  };
  std::vector<NoteHint> note_hints;
};

struct ChatOptions {
  double temperature = 0.2;
  int max_tokens = 1024;
  std::int64_t seed = -1;  // sent when >= 0 (endpoints that support it become reproducible)
  // > 0: ask for the log-probabilities of this many most likely tokens at each
  // generated position ("logprobs": true, "top_logprobs": n; OpenAI allows 0..20).
  int top_logprobs = 0;
  AnswerShape shape;       // not sent over HTTP
};

// One candidate token at a generated position, as the endpoint spells it.
struct TokenLogprob {
  std::string token;
  double logprob = 0;
};

enum class ChatStatus { ok, failed };

struct ChatResult {
  ChatStatus status = ChatStatus::ok;
  std::string text;            // the assistant message (valid UTF-8)
  std::string finish_reason;   // "stop", "length", ...
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  int attempts = 0;
  // With ChatOptions::top_logprobs > 0 and an endpoint that returns them: per
  // generated token, its most likely candidates (empty otherwise).
  std::vector<std::vector<TokenLogprob>> top_logprobs;
  std::string error;           // why it failed ("" when ok)
  bool ok() const { return status == ChatStatus::ok; }
};

struct LlmUsage {
  std::int64_t calls = 0;            // chat requests completed
  std::int64_t failed_calls = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double cost_usd = 0;
};

class ChatBackend {
 public:
  using Done = std::function<void(ChatResult&&)>;
  virtual ~ChatBackend() = default;
  // Queues one chat; `done` runs inside run() (and may queue more).
  virtual void chat_async(const std::vector<ChatMessage>& messages, const ChatOptions& options, Done done) = 0;
  // Runs queued chats (and those their callbacks queue) to completion.
  virtual void run() = 0;
  virtual const LlmUsage& usage() const = 0;
  // The model name stored with every output.
  virtual const std::string& model() const = 0;

  // One chat, synchronously.
  ChatResult chat(const std::vector<ChatMessage>& messages, const ChatOptions& options) {
    ChatResult result;
    chat_async(messages, options, [&result](ChatResult&& r) { result = std::move(r); });
    run();
    return result;
  }
};

}  // namespace personas
