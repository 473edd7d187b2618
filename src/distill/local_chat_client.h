// LocalChatClient: the ChatBackend of distill.provider = local. Chats are
// answered by our own engine (LoraModel::generate_batch on the base
// checkpoint, no adapter) instead of an HTTP endpoint:
//   - the messages are rendered with the checkpoint's chat template (Phi-3,
//     ChatML, Llama 3: model/chat_template.h) when the tokenizer has its
//     end-of-turn tokens, else a plain "System: ...\n\nUser: ...\n\n
//     Assistant:" transcript;
//   - the prompt is cut from the left (the first token kept) to fit max_seq
//     minus the tokens to generate;
//   - every chat samples with its own seed, derived from the configured seed
//     and the chat's text (so the user and the step): answers do not depend on
//     the order of the queue, hence not on the number of ranks;
//   - generation stops at EOS / the template's end of turn (or, in a transcript, at the next
//     "User:" turn); prompt and completion tokens are counted (cost 0).
// Two formats (distill.local_format):
//   free      the model writes the whole answer (instruct checkpoints: Phi-3);
//   scaffold  the client writes the JSON answer asked for (ChatOptions::shape)
//             itself and the model generates only each string value,
//             prompted with the conversation and the answer so far as plain
//             lines, up to a newline, the end of turn or a per-slot token cap.
//             Every answer parses, whatever the checkpoint (a random one
//             included).
// run() decodes the queued chats together (max_batch sequences at a time,
// continuous batching): one request per free answer, one per scaffold value
// (a chat's next value queued when its previous one ends). A request gets the
// same tokens in a batch as alone, so the answers are the sequential ones.
// Key/value caches are reused: each finished request leaves its cache in a
// pool of max_batch (least recently used go first), and a new request copies
// the rows of its longest common token prefix with a pooled cache instead of
// prefilling them: a scaffold's next value prefills only the few tokens the
// scaffold added, a conversation's next turn only the new user message. The
// engine's steps are row-invariant, so the answers are the same bits as with
// full prefills. Memory: up to 2 x max_batch caches (slots and pool).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "distill/chat_backend.h"
#include "distill/distill_config.h"
#include "model/checkpoint.h"
#include "model/engine.h"
#include "model/lora_model.h"
#include "model/tokenizer.h"

namespace personas {

enum class ChatFormat { templated, transcript };
// templated when the tokenizer has a chat template whose end-of-turn tokens
// are in its vocabulary; transcript otherwise.
ChatFormat chat_format_of(const Tokenizer& tokenizer);
// The prompt text for `messages`, ending where the assistant's answer begins.
std::string render_chat(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages, ChatFormat format);

// The scaffold's JSON answer for `shape`. `fill(answer_so_far, slot)` returns
// the raw text of one string value (slot: "reason" or "profile"); the answer
// so far is what the model is shown: plain lines, one per note
// ("1. Kolya (1996), 4 stars: I gave it 4 stars because " with
// shape.note_hints, else "1. I rated it so because "), then "My profile: I "
// (the profile stored starts with that "I ").
// Values are JSON-escaped into the answer; an empty reason or profile stays
// empty (the distiller then asks for a repair), so the result always parses.
std::string build_scaffold_answer(const AnswerShape& shape,
                                  const std::function<std::string(const std::string& answer_so_far,
                                                                  const std::string& slot)>& fill);

// `text` with invalid UTF-8 sequences and control characters (tab kept in
// free text, newline kept when `keep_newlines`) removed.
std::string clean_generated_text(std::string_view text, bool keep_newlines);

struct LocalChatOptions {
  std::string model_name;         // stored with outputs (the checkpoint path)
  int max_seq = 512;              // prompt + generated tokens (capped by the model's positions)
  LocalFormat format = LocalFormat::scaffold;
  int note_tokens = 48;           // scaffold: cap of one reason
  int profile_tokens = 160;       // scaffold: cap of the profile
  float repetition_penalty = 1.0f;  // SamplingOptions::repetition_penalty of every request
  int max_batch = 16;             // sequences decoded together (LoraModel::generate_batch slots)
  bool reuse_caches = true;       // keep a pool of key/value caches (false: every prompt prefilled whole)
  // Called after every generated token; it may throw to end run() at once (a
  // stop request: the chats in flight are dropped, none is answered).
  std::function<void()> poll;
};

class LocalChatClient final : public ChatBackend {
 public:
  // `model` and `tokenizer` must outlive the client.
  LocalChatClient(LoraModel& model, const Tokenizer& tokenizer, LocalChatOptions options);

  void chat_async(const std::vector<ChatMessage>& messages, const ChatOptions& options, Done done) override;
  void run() override;
  const LlmUsage& usage() const override { return usage_; }
  const std::string& model() const override { return options_.model_name; }

  ChatFormat chat_format() const { return format_; }
  std::int64_t truncated_prompts() const { return truncated_prompts_; }  // prompts cut to fit max_seq
  double generate_seconds() const { return generate_seconds_; }          // time spent in the engine
  // Prompt tokens whose key/value rows came from a pooled cache instead of a prefill.
  std::int64_t reused_prompt_tokens() const { return reused_prompt_tokens_; }

 private:
  struct Pending {
    std::vector<ChatMessage> messages;
    ChatOptions options;
    Done done;
  };
  class Batch;  // the state of one run() (local_chat_client.cpp)
  struct PooledCache {
    std::shared_ptr<const GenerationCache> cache;
    std::uint64_t last_use = 0;
  };
  // The pooled cache the prompt `ids` reuses most rows of (reusable_prefix;
  // null when none) and that number of rows. A cache that the prompt
  // continues almost whole (its own chat's) leaves the pool: the request's
  // cache replaces it when it ends.
  std::shared_ptr<const GenerationCache> take_cache(const std::vector<std::int32_t>& ids, std::int64_t& common);
  void pool_cache(GenerationCache&& cache);

  LoraModel& model_;
  const Tokenizer& tokenizer_;
  LocalChatOptions options_;
  ChatFormat format_;
  int max_seq_ = 0;
  std::vector<std::int32_t> stop_ids_;
  std::vector<char> decodable_;  // per model token id: the tokenizer can decode it
  std::deque<Pending> queue_;
  LlmUsage usage_;
  std::int64_t truncated_prompts_ = 0;
  double generate_seconds_ = 0;
  std::vector<PooledCache> pool_;
  std::uint64_t pool_clock_ = 0;
  std::int64_t reused_prompt_tokens_ = 0;
};

// A checkpoint loaded for local chats (model/engine.h), with one zero adapter.
using LocalEngine = Engine;
// ErrorKind::io naming the file (with a hint) when the checkpoint is missing.
LocalEngine load_local_engine(const fs::path& checkpoint, BackendKind backend_kind, int device_index,
                              const std::string& chat_template = "", DeviceDtypeSetting device_dtype = DeviceDtypeSetting::automatic);
// A cheap content fingerprint of a checkpoint file (its size and 16 sampled
// 64 KiB blocks), part of the stage's hash: another checkpoint at the same
// path redoes the stage. ErrorKind::io (with a hint) when the file is missing.
std::string checkpoint_file_fingerprint(const fs::path& checkpoint);

}  // namespace personas
