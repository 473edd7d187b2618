#include "eval/endpoint_agent.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/strings.h"
#include "train/samples.h"

namespace personas {
namespace {

// 1..5 when the token is that digit alone (around spaces), else 0.
int digit_of_token(const std::string& token) {
  const auto t = trim(token);
  return t.size() == 1 && t[0] >= '1' && t[0] <= '5' ? t[0] - '0' : 0;
}

// The prompt as text: build_eval_prompt fits it to the length with the
// tokenizer's encoder, and this one keeps the parts of its last (fitted) try.
class TextCapture final : public PromptEncoder {
 public:
  explicit TextCapture(const Tokenizer& tokenizer) : inner_(tokenizer) {}
  EncodedPrompt encode(const PromptParts& parts) const override {
    last_ = parts;
    return inner_.encode(parts);
  }
  const PromptParts& last() const { return last_; }

 private:
  ChatTemplateEncoder inner_;
  mutable PromptParts last_;
};

}  // namespace

AgentRating rating_from_answer(const ChatResult& answer) {
  AgentRating r;
  r.text = answer.text;
  for (const auto& position : answer.top_logprobs) {
    std::array<double, 5> logprob{};
    std::array<bool, 5> offered{};
    for (const auto& c : position) {
      const int d = digit_of_token(c.token);
      if (d == 0) continue;
      // The same digit spelt twice ("4", " 4"): their probabilities add.
      const auto i = static_cast<std::size_t>(d - 1);
      logprob[i] = offered[i] ? std::log(std::exp(logprob[i]) + std::exp(c.logprob)) : c.logprob;
      offered[i] = true;
    }
    if (std::none_of(offered.begin(), offered.end(), [](bool b) { return b; })) continue;
    double top = -INFINITY;
    for (std::size_t i = 0; i < 5; ++i)
      if (offered[i]) top = std::max(top, logprob[i]);
    double best = -1, total = 0;
    std::array<double, 5> p{};
    for (std::size_t i = 0; i < 5; ++i)
      if (offered[i]) total += (p[i] = std::exp(logprob[i] - top));
    for (std::size_t i = 0; i < 5; ++i) {
      r.probs[i] = static_cast<float>(p[i] / total);
      r.predicted += static_cast<double>(i + 1) * p[i] / total;
      if (p[i] > best) best = p[i], r.argmax = static_cast<int>(i) + 1;
    }
    return r;
  }
  const int digit = parse_rating_digit(answer.text);
  r.unrelated = digit == 0;
  r.argmax = digit;
  r.predicted = digit;
  return r;
}

EndpointRater::EndpointRater(EndpointAgentOptions options, const Tokenizer& tokenizer)
    : options_(std::move(options)), tokenizer_(tokenizer), client_(options_.http, options_.model) {}

std::vector<AgentRating> EndpointRater::rate(const Dataset& data, const MemoryOfUser& memory_of,
                                             const ItemVectors& vectors, const std::vector<UserItem>& pairs,
                                             const SampleOptions& sample) {
  TextCapture capture(tokenizer_);
  ChatOptions chat;
  chat.temperature = options_.temperature;
  chat.max_tokens = options_.max_tokens;
  chat.seed = options_.seed;
  chat.top_logprobs = options_.top_logprobs;
  std::vector<AgentRating> out(pairs.size());
  std::vector<std::string> failures(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto& pair = pairs[i];
    const auto& user = data.users[static_cast<std::size_t>(pair.user)];
    build_eval_prompt(data, user, memories_of_pair(data, memory_of, pair), vectors, capture, sample, pair.item);
    std::vector<ChatMessage> messages;
    if (!capture.last().system.empty()) messages.push_back({"system", capture.last().system});
    messages.push_back({"user", capture.last().user});
    client_.chat_async(messages, chat, [&, i](ChatResult&& answer) {
      if (!answer.ok()) {
        failures[i] = answer.error;
        return;
      }
      AgentRating r = rating_from_answer(answer);
      r.user = pairs[i].user;
      r.user_id = data.users[static_cast<std::size_t>(pairs[i].user)].id;
      r.item = pairs[i].item;
      r.truth = pairs[i].truth;
      out[i] = std::move(r);
    });
  }
  client_.run();
  for (std::size_t i = 0; i < pairs.size(); ++i)
    PERSONAS_CHECK_HINT(failures[i].empty(), provider, "check eval.endpoint_base_url, eval.endpoint_model and the key",
                        "endpoint agent: user {} item {}: {}", data.users[static_cast<std::size_t>(pairs[i].user)].id,
                        data.items[static_cast<std::size_t>(pairs[i].item)].id, failures[i]);
  return out;
}

}  // namespace personas
