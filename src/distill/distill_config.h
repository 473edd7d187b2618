// [distill]: how rating histories become profiles and notes (stage 1).
// The provider decides who writes the text: "offline" (statistics, no
// network), "openai" (any OpenAI-compatible Chat Completions endpoint: OpenAI,
// vLLM, llama.cpp server), "local" (our own engine on the [model] checkpoint:
// model.path, or RUN/model/base.h5; docs/distill.md).
// "auto" = openai when distill.base_url is set, else offline.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/config_schema.h"
#include "io/line_file.h"

namespace personas {

// distill.provider ("auto" resolves to offline or openai).
enum class Provider { auto_select, offline, openai, local };
// distill.local_format: who writes the JSON structure of a local answer (local_chat_client.h).
enum class LocalFormat { scaffold, free };
const std::vector<std::pair<std::string, Provider>>& provider_names();
const std::vector<std::pair<std::string, LocalFormat>>& local_format_names();
const std::vector<std::pair<std::string, LineCompression>>& line_compression_names();
std::string to_string(Provider provider);
std::string to_string(LocalFormat format);
std::string to_string(LineCompression compression);

struct DistillConfig {
  Provider provider = Provider::auto_select;
  std::string base_url;                            // e.g. https://api.openai.com/v1
  std::string model;                               // e.g. gpt-4o-mini
  std::string api_key_env = "OPENAI_API_KEY";      // env var holding the key (never logged)
  std::string prompts = "configs/prompts/distill-v1";  // folder of versioned prompt files
  int batch_size = 10;                             // interactions per LLM call
  int max_words = 2000;                            // cap on a profile's length
  bool reflection = true;                          // self-reflection round after the last batch
  double temperature = 0.2;
  int max_tokens = 2048;                           // completion tokens per call
  int in_flight = 16;                              // concurrent requests per rank
  double connect_timeout_s = 10.0;
  double timeout_s = 120.0;                        // whole request, per attempt
  int max_attempts = 6;                            // per request, retries included
  double backoff_initial_s = 1.0;
  double backoff_max_s = 60.0;
  double requests_per_min = 0;                     // per rank; 0 = no limit
  double tokens_per_min = 0;                       // per rank; 0 = no limit
  double price_prompt_per_mtok = 0;                // USD per million prompt tokens
  double price_completion_per_mtok = 0;            // USD per million completion tokens
  int users_per_chunk = 8;                         // progress is saved every this many users
  LineCompression compress = LineCompression::none;  // the stage's files as .jsonl or .jsonl.zst
  // provider = local only:
  LocalFormat local_format = LocalFormat::scaffold;
  int local_note_tokens = 48;                      // scaffold: token cap of one note's reason
  int local_profile_tokens = 160;                  // scaffold: token cap of the profile
  double local_repetition_penalty = 1.3;           // logits of tokens already generated in a request / this

  void describe(ConfigSchema& schema);

  // The provider after resolving "auto".
  Provider resolved_provider() const;
  // The settings that change the text written (not speed/limits, not the
  // endpoint's address): part of the stage's config hash, so changing them
  // redoes the stage. with_base_url: the key of earlier versions, which held
  // base_url (their outputs are kept, not redone).
  std::string content_key(bool with_base_url = false) const;
};

}  // namespace personas
