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

#include "distill/chat_backend.h"
#include "distill/http_client.h"

namespace personas {

struct LlmPrices {
  double prompt_per_mtok = 0;
  double completion_per_mtok = 0;
};

class LlmClient final : public ChatBackend {
 public:
  LlmClient(HttpClientOptions http, std::string model, LlmPrices prices = {});

  // Queues one chat; `done` runs inside run() (and may queue more).
  void chat_async(const std::vector<ChatMessage>& messages, const ChatOptions& options, Done done) override;
  // Runs queued chats to completion.
  void run() override { http_.run(); }

  const LlmUsage& usage() const override { return usage_; }
  const HttpClientStats& http_stats() const { return http_.stats(); }
  const std::string& model() const override { return model_; }

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
