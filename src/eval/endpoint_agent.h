// The endpoint agent (eval.agents = endpoint): a frozen LLM behind any
// OpenAI-compatible /chat/completions (vLLM, llama.cpp's server, OpenAI)
// rates the test items with the local agents' prompts (train/samples.h, fit
// to the length with the base checkpoint's tokenizer), so a user with a
// server reproduces the paper's frozen-LLM rows. The rating is the expected
// digit under the top log-probabilities of the answer's first position that
// offers a digit 1-5 (renormalised over the digits offered), where the server
// returns log-probabilities; else the first digit 1-5 of the answer; an
// answer without one is unrelated (URR), as in generate mode.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "distill/chat_backend.h"
#include "distill/http_client.h"
#include "distill/llm_client.h"
#include "eval/agent_scoring.h"
#include "model/tokenizer.h"

namespace personas {

struct EndpointAgentOptions {
  HttpClientOptions http;     // base_url, key, requests in flight, timeouts, retries
  std::string model;          // the model name sent to the endpoint
  int top_logprobs = 20;      // candidates per position asked for (0 = the answer's text only)
  int max_tokens = 4;         // new tokens per answer
  double temperature = 0.0;
  std::int64_t seed = -1;     // sent when >= 0
};

// The rating in one answer (user, item and truth are the caller's): predicted,
// argmax, probs (log-probabilities) or the parsed digit, unrelated, text.
AgentRating rating_from_answer(const ChatResult& answer);

class EndpointRater {
 public:
  // `tokenizer` only measures prompts against options.sample.max_len.
  EndpointRater(EndpointAgentOptions options, const Tokenizer& tokenizer);

  // Rates the pairs, all requests in flight together (up to http.max_in_flight).
  // ErrorKind::provider naming the user and item when a request failed after
  // its retries.
  std::vector<AgentRating> rate(const Dataset& data, const MemoryOfUser& memory_of, const ItemVectors& vectors,
                                const std::vector<UserItem>& pairs, const SampleOptions& sample);

  const LlmUsage& usage() const { return client_.usage(); }

 private:
  EndpointAgentOptions options_;
  const Tokenizer& tokenizer_;
  LlmClient client_;
};

}  // namespace personas
