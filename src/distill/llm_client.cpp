#include "distill/llm_client.h"

#include <fmt/format.h>

namespace personas {

nlohmann::json chat_request_body(const std::string& model, const std::vector<ChatMessage>& messages,
                                 const ChatOptions& options) {
  nlohmann::json body;
  body["model"] = model;
  body["messages"] = nlohmann::json::array();
  for (const auto& m : messages) body["messages"].push_back({{"role", m.role}, {"content", m.content}});
  body["temperature"] = options.temperature;
  body["max_tokens"] = options.max_tokens;
  if (options.seed >= 0) body["seed"] = options.seed;
  if (options.top_logprobs > 0) {
    body["logprobs"] = true;
    body["top_logprobs"] = options.top_logprobs;
  }
  return body;
}

std::int64_t estimate_tokens(const std::vector<ChatMessage>& messages, int max_tokens) {
  std::int64_t bytes = 0;
  for (const auto& m : messages) bytes += static_cast<std::int64_t>(m.content.size()) + 8;
  return bytes / 4 + max_tokens;
}

LlmClient::LlmClient(HttpClientOptions http, std::string model, LlmPrices prices)
    : http_(std::move(http)), model_(std::move(model)), prices_(prices) {}

namespace {

// choices[0].logprobs.content[i].top_logprobs[j] = {"token", "logprob"} (the
// OpenAI form, also vLLM's and llama.cpp's); entries of another shape are skipped.
void read_top_logprobs(const nlohmann::json& choice, ChatResult& out) {
  if (!choice.contains("logprobs") || !choice["logprobs"].is_object()) return;
  const auto& lp = choice["logprobs"];
  if (!lp.contains("content") || !lp["content"].is_array()) return;
  for (const auto& position : lp["content"]) {
    std::vector<TokenLogprob> candidates;
    if (position.is_object() && position.contains("top_logprobs") && position["top_logprobs"].is_array())
      for (const auto& c : position["top_logprobs"])
        if (c.is_object() && c.contains("token") && c["token"].is_string() && c.contains("logprob") &&
            c["logprob"].is_number())
          candidates.push_back({c["token"].get<std::string>(), c["logprob"].get<double>()});
    out.top_logprobs.push_back(std::move(candidates));
  }
}

// Pulls the assistant text and usage out of a chat completion body.
void read_completion(const nlohmann::json& body, ChatResult& out) {
  if (!body.is_object() || !body.contains("choices") || !body["choices"].is_array() || body["choices"].empty()) {
    out.status = ChatStatus::failed;
    out.error = "answer has no 'choices'";
    return;
  }
  const auto& choice = body["choices"][0];
  const auto* content = choice.contains("message") && choice["message"].is_object() &&
                                choice["message"].contains("content") && choice["message"]["content"].is_string()
                            ? &choice["message"]["content"]
                            : nullptr;
  if (!content) {
    out.status = ChatStatus::failed;
    out.error = "answer has no choices[0].message.content string";
    return;
  }
  out.text = content->get<std::string>();
  read_top_logprobs(choice, out);
  if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
    out.finish_reason = choice["finish_reason"].get<std::string>();
  if (body.contains("usage") && body["usage"].is_object()) {
    const auto& u = body["usage"];
    if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer())
      out.prompt_tokens = u["prompt_tokens"].get<std::int64_t>();
    if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer())
      out.completion_tokens = u["completion_tokens"].get<std::int64_t>();
  }
}

}  // namespace

void LlmClient::chat_async(const std::vector<ChatMessage>& messages, const ChatOptions& options, Done done) {
  auto estimate = estimate_tokens(messages, options.max_tokens);
  http_.post("/chat/completions", chat_request_body(model_, messages, options), estimate,
             [this, estimate, done = std::move(done)](PostResult&& post) {
               ChatResult out;
               out.attempts = post.attempts;
               if (!post.ok()) {
                 out.status = ChatStatus::failed;
                 out.error = fmt::format("{}: {}", post_status_name(post.status), post.error);
               } else {
                 read_completion(post.body, out);
               }
               ++usage_.calls;
               if (!out.ok()) ++usage_.failed_calls;
               usage_.prompt_tokens += out.prompt_tokens;
               usage_.completion_tokens += out.completion_tokens;
               usage_.cost_usd += (static_cast<double>(out.prompt_tokens) * prices_.prompt_per_mtok +
                                   static_cast<double>(out.completion_tokens) * prices_.completion_per_mtok) /
                                  1e6;
               if (out.prompt_tokens + out.completion_tokens > 0)
                 http_.charge_tokens(out.prompt_tokens + out.completion_tokens - estimate);
               done(std::move(out));
             });
}

}  // namespace personas
