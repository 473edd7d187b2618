#include "distill/distill_config.h"

#include <fmt/format.h>

namespace personas {

const std::vector<std::pair<std::string, Provider>>& provider_names() {
  static const std::vector<std::pair<std::string, Provider>> names = {{"auto", Provider::auto_select},
                                                                       {"offline", Provider::offline},
                                                                       {"openai", Provider::openai},
                                                                       {"local", Provider::local}};
  return names;
}

const std::vector<std::pair<std::string, LocalFormat>>& local_format_names() {
  static const std::vector<std::pair<std::string, LocalFormat>> names = {{"scaffold", LocalFormat::scaffold},
                                                                          {"free", LocalFormat::free}};
  return names;
}

const std::vector<std::pair<std::string, LineCompression>>& line_compression_names() {
  static const std::vector<std::pair<std::string, LineCompression>> names = {{"none", LineCompression::none},
                                                                              {"zstd", LineCompression::zstd}};
  return names;
}

std::string to_string(Provider provider) { return choice_word(provider_names(), provider); }
std::string to_string(LocalFormat format) { return choice_word(local_format_names(), format); }
std::string to_string(LineCompression compression) { return choice_word(line_compression_names(), compression); }

void DistillConfig::describe(ConfigSchema& s) {
  s.add_choice("distill.provider", &provider, provider_names(),
               "who writes profiles and notes: offline (statistics), openai (any OpenAI-compatible "
               "endpoint), local (own engine on the [model] checkpoint: model.path or RUN/model/base.h5); auto = openai "
               "when base_url is set");
  s.add("distill.base_url", &base_url, "OpenAI-compatible API root, e.g. https://api.openai.com/v1 or http://host:8000/v1");
  s.add("distill.model", &model, "model name sent to the endpoint");
  s.add("distill.api_key_env", &api_key_env,
        "name of the environment variable holding the API key (the key itself never goes in a config or log)");
  s.add("distill.prompts", &prompts, "folder of the versioned prompt files (VERSION, system.txt, batch.txt, ...)");
  s.add("distill.batch_size", &batch_size, "training-period interactions per LLM call");
  s.add("distill.max_words", &max_words, "profile length cap: one request to shorten, then truncation with a warning");
  s.add("distill.reflection", &reflection, "self-reflection round checking the profile against the statistics");
  s.add("distill.temperature", &temperature, "sampling temperature");
  s.add("distill.max_tokens", &max_tokens, "completion tokens per call");
  s.add("distill.in_flight", &in_flight,
        "concurrent requests per rank (provider local: users in conversation at once, decoded as one batch)");
  s.add("distill.connect_timeout_s", &connect_timeout_s, "connection timeout per attempt, seconds");
  s.add("distill.timeout_s", &timeout_s, "total timeout per attempt, seconds");
  s.add("distill.max_attempts", &max_attempts, "attempts per request (429, 5xx, timeouts and connection errors are retried)");
  s.add("distill.backoff_initial_s", &backoff_initial_s, "first retry delay (doubles each attempt, with jitter)");
  s.add("distill.backoff_max_s", &backoff_max_s, "largest retry delay (Retry-After is honoured up to this)");
  s.add("distill.requests_per_min", &requests_per_min, "per-rank request rate limit (0 = none)");
  s.add("distill.tokens_per_min", &tokens_per_min, "per-rank token rate limit, prompt + completion (0 = none)");
  s.add("distill.price_prompt_per_mtok", &price_prompt_per_mtok, "USD per million prompt tokens (cost estimate)");
  s.add("distill.price_completion_per_mtok", &price_completion_per_mtok,
        "USD per million completion tokens (cost estimate)");
  s.add("distill.users_per_chunk", &users_per_chunk, "progress is saved to disk every this many finished users");
  s.add_choice("distill.compress", &compress, line_compression_names(),
               "the stage's files: none = memories-rank-N.jsonl; zstd = memories-rank-N.jsonl.zst (one zstd frame "
               "per users_per_chunk users, ~10x smaller; every reader takes either)");
  s.add_choice("distill.local_format", &local_format, local_format_names(),
               "provider local: scaffold = the engine builds the JSON answer and the model writes only its strings "
               "(every answer parses, any checkpoint); free = the model writes the whole answer (instruct "
               "checkpoints such as Phi-3)");
  s.add("distill.local_note_tokens", &local_note_tokens,
        "provider local, scaffold: most tokens generated for one note's reason");
  s.add("distill.local_profile_tokens", &local_profile_tokens,
        "provider local, scaffold: most tokens generated for the profile");
  s.add("distill.local_repetition_penalty", &local_repetition_penalty,
        "provider local: the logit of a token already generated in the same answer or value is divided by this "
        "(1 = off; SmolLM2-135M loops without it)");
  s.add_check([this](Problems& p) {
    if (batch_size < 1) p.add("distill.batch_size: {} must be >= 1", batch_size);
    if (max_words < 10) p.add("distill.max_words: {} must be >= 10", max_words);
    if (max_tokens < 1) p.add("distill.max_tokens: {} must be >= 1", max_tokens);
    if (!(temperature >= 0)) p.add("distill.temperature: {} must be >= 0", temperature);
    if (in_flight < 1) p.add("distill.in_flight: {} must be >= 1", in_flight);
    if (max_attempts < 1) p.add("distill.max_attempts: {} must be >= 1", max_attempts);
    if (connect_timeout_s <= 0) p.add("distill.connect_timeout_s: {} must be > 0", connect_timeout_s);
    if (timeout_s <= 0) p.add("distill.timeout_s: {} must be > 0", timeout_s);
    if (backoff_initial_s < 0 || backoff_max_s < backoff_initial_s)
      p.add("distill.backoff_initial_s/backoff_max_s: need 0 <= initial ({}) <= max ({})", backoff_initial_s,
            backoff_max_s);
    if (requests_per_min < 0) p.add("distill.requests_per_min: {} must be >= 0", requests_per_min);
    if (tokens_per_min < 0) p.add("distill.tokens_per_min: {} must be >= 0", tokens_per_min);
    if (local_note_tokens < 1) p.add("distill.local_note_tokens: {} must be >= 1", local_note_tokens);
    if (!(local_repetition_penalty >= 1.0 && local_repetition_penalty <= 10.0))
      p.add("distill.local_repetition_penalty: {} must be in [1, 10]", local_repetition_penalty);
    if (local_profile_tokens < 1) p.add("distill.local_profile_tokens: {} must be >= 1", local_profile_tokens);
    if (users_per_chunk < 1) p.add("distill.users_per_chunk: {} must be >= 1", users_per_chunk);
    if (provider == Provider::openai && base_url.empty())
      p.add("distill.base_url: required for distill.provider = openai (e.g. https://api.openai.com/v1)");
    if (resolved_provider() == Provider::openai && model.empty())
      p.add("distill.model: required for an OpenAI-compatible endpoint (distill.base_url = {})", base_url);
  });
}

Provider DistillConfig::resolved_provider() const {
  if (provider != Provider::auto_select) return provider;
  return base_url.empty() ? Provider::offline : Provider::openai;
}

std::string DistillConfig::content_key(bool with_base_url) const {
  const Provider resolved = resolved_provider();
  const std::string p = to_string(resolved);
  std::string key = "offline";
  if (resolved != Provider::offline) {
    // The endpoint's address is not in it: the same model behind another host or port writes the same text.
    key = with_base_url ? fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", p, base_url, model, batch_size, max_words, reflection,
                                      temperature, max_tokens)
                        : fmt::format("{}|{}|{}|{}|{}|{}|{}", p, model, batch_size, max_words, reflection, temperature,
                                      max_tokens);
    // The local engine's checkpoint is added by the stage (it is in [model]).
    if (resolved == Provider::local)
      key += fmt::format("|{}|{}|{}", to_string(local_format), local_note_tokens, local_profile_tokens) +
             (local_repetition_penalty != 1.0 ? fmt::format("|rep={}", local_repetition_penalty) : std::string());
  }
  // The files' form: another one redoes the stage (none keeps earlier hashes).
  if (compress != LineCompression::none) key += "|compress=" + to_string(compress);
  return key;
}

}  // namespace personas
