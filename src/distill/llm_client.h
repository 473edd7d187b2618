// LlmClient: OpenAI Chat Completions over JsonHttpClient (POST
// {base_url}/chat/completions with model, messages, temperature, max_tokens,
// seed). Works unchanged against OpenAI, vLLM, llama.cpp's server or any
// compatible endpoint. chat() never throws for one conversation's failure: the
// result carries a status and a reason. Token usage is summed per client and a
// cost estimated from the configured prices.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "distill/http_client.h"

namespace personas {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant"
  std::string content;
};

struct ChatOptions {
  double temperature = 0.2;
  int max_tokens = 1024;
  std::int64_t seed = -1;  // sent when >= 0 (endpoints that support it become reproducible)
};

enum class ChatStatus { ok, failed };

struct ChatResult {
  ChatStatus status = ChatStatus::ok;
  std::string text;            // the assistant message (valid UTF-8)
  std::string finish_reason;   // "stop", "length", ...
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  int attempts = 0;
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

struct LlmPrices {
  double prompt_per_mtok = 0;
  double completion_per_mtok = 0;
};

class LlmClient {
 public:
  using Done = std::function<void(ChatResult&&)>;
  LlmClient(HttpClientOptions http, std::string model, LlmPrices prices = {});

  // Queues one chat; `done` runs inside run() (and may queue more).
  void chat_async(const std::vector<ChatMessage>& messages, const ChatOptions& options, Done done);
  // Runs queued chats to completion.
  void run() { http_.run(); }
  // One chat, synchronously.
  ChatResult chat(const std::vector<ChatMessage>& messages, const ChatOptions& options);

  const LlmUsage& usage() const { return usage_; }
  const HttpClientStats& http_stats() const { return http_.stats(); }
  const std::string& model() const { return model_; }

 private:
  JsonHttpClient http_;
  std::string model_;
  LlmPrices prices_;
  LlmUsage usage_;
};

// The request body for /chat/completions (exposed for tests).
nlohmann::json chat_request_body(const std::string& model, const std::vector<ChatMessage>& messages,
                                 const ChatOptions& options);
// A rough token count for the limiter before the real usage is known (~4 bytes a token).
std::int64_t estimate_tokens(const std::vector<ChatMessage>& messages, int max_tokens);

}  // namespace personas
