#include "distill/local_chat_client.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <fstream>
#include <memory>
#include <optional>

#include "core/errors.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/strings.h"

namespace personas {

ChatFormat chat_format_of(const Tokenizer& tokenizer) {
  const ChatTemplate t = tokenizer.data().chat_template;
  if (t == ChatTemplate::none || t == ChatTemplate::plain) return ChatFormat::transcript;
  // Every end-of-turn token of the template must be in the vocabulary (a trained quickstart tokenizer has Phi-3's).
  for (const auto& end : chat_turn_end_tokens(t))
    if (end != "<|endoftext|>" && tokenizer.piece_to_id(end) < 0) return ChatFormat::transcript;
  return ChatFormat::templated;
}

std::string render_chat(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages, ChatFormat format) {
  if (format == ChatFormat::templated) return tokenizer.apply_chat_template(messages, /*add_generation_prompt=*/true);
  return render_chat_template(ChatTemplate::plain, messages, /*add_generation_prompt=*/true);
}

std::string clean_generated_text(std::string_view text, bool keep_newlines) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0, n = text.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c >= 0x20 && c != 0x7f) out.push_back(static_cast<char>(c));
      else if (c == '\t') out.push_back(' ');
      else if (c == '\n') out.push_back(keep_newlines ? '\n' : ' ');
      ++i;
      continue;
    }
    // A multi-byte sequence: keep it only when it is complete and well formed.
    std::size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
    if (len == 0 || i + len > n || !is_valid_utf8(text.substr(i, len))) {
      ++i;  // a stray byte: dropped
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

namespace {

std::string json_string_body(const std::string& value) {
  auto quoted = nlohmann::json(value).dump();
  return quoted.substr(1, quoted.size() - 2);
}

// build_scaffold_answer one value at a time, so that run() can decode one
// value of every chat in the same batch. The JSON answer is ours; the model
// sees its answer so far as plain lines, which a small model continues far
// better than a half-written JSON object (inside one, SmolLM2-135M wrote
// "because 1.2.2.1." for most notes):
//   1. Kolya (1996), 4 stars: I gave it 4 stars because <value>
//   2. ...
//   My profile: I <value>
class ScaffoldBuilder {
 public:
  // The opening text is constructed, not assigned: GCC 12 warns (-Wrestrict, a false positive) on the assignment of
  // a literal once this is inlined into the batch.
  explicit ScaffoldBuilder(const AnswerShape& shape)
      : n_notes_(shape.n_notes), hints_(shape.note_hints), answer_(n_notes_ >= 0 ? "{\"notes\": [" : "{") {
    open_next();
  }
  bool done() const { return slot_.empty(); }
  const std::string& slot() const { return slot_; }      // "reason" or "profile"
  const std::string& so_far() const { return shown_; }   // the model's view of the answer, up to the value
  // The model's raw text for the current value.
  void fill(const std::string& raw) {
    const std::string value(trim(clean_generated_text(raw, false)));
    if (slot_ == "reason") {
      if (!value.empty()) answer_ += json_string_body("because " + value);
      answer_ += "\"}";
      shown_ += value + "\n";
      ++note_;
      open_next();
    } else {  // the profile: a first-person text that the shown line starts with "I "
      if (!value.empty()) answer_ += json_string_body("I " + value);
      answer_ += "\"}";
      shown_ += value;
      slot_.clear();
    }
  }
  const std::string& answer() const { return answer_; }

 private:
  void open_next() {
    if (n_notes_ >= 0 && note_ <= n_notes_) {
      if (note_ > 1) answer_ += ", ";
      answer_ += fmt::format("{{\"item\": {}, \"reason\": \"", note_);
      if (static_cast<std::size_t>(note_) <= hints_.size()) {
        const auto& hint = hints_[static_cast<std::size_t>(note_ - 1)];
        shown_ += fmt::format("{}. {}, {} stars: I gave it {} stars because ", note_, hint.movie, hint.stars,
                              hint.stars);
      } else {
        shown_ += fmt::format("{}. I rated it so because ", note_);
      }
      slot_ = "reason";
      return;
    }
    if (n_notes_ >= 0) answer_ += "], ";
    answer_ += "\"profile\": \"";
    shown_ += "My profile: I ";  // first person from the first word (else "{" or "[": the prompt asks for JSON)
    slot_ = "profile";
  }

  int n_notes_ = -1;
  std::vector<AnswerShape::NoteHint> hints_;
  int note_ = 1;
  std::string answer_, slot_, shown_;
};

// Ends `text` at a stop marker; true when one was found. A scaffold value
// stops at a newline (a leading one is skipped); a transcript at the next
// turn.
bool apply_stops(std::string& text, bool slot, bool transcript) {
  if (slot) {
    while (true) {
      auto pos = text.find('\n');
      if (pos == std::string::npos) return false;
      if (trim(std::string_view(text).substr(0, pos)).empty()) {  // a leading newline: skipped
        text.erase(0, pos + 1);
        continue;
      }
      text.resize(pos);
      return true;
    }
  }
  if (transcript) {
    for (const char* marker : {"\nUser:", "\nSystem:"})
      if (auto pos = text.find(marker); pos != std::string::npos) {
        text.resize(pos);
        return true;
      }
  }
  return false;
}

}  // namespace

std::string build_scaffold_answer(const AnswerShape& shape,
                                  const std::function<std::string(const std::string&, const std::string&)>& fill) {
  ScaffoldBuilder builder(shape);
  while (!builder.done()) builder.fill(fill(builder.so_far(), builder.slot()));
  return builder.answer();
}

LocalChatClient::LocalChatClient(LoraModel& model, const Tokenizer& tokenizer, LocalChatOptions options)
    : model_(model), tokenizer_(tokenizer), options_(std::move(options)), format_(chat_format_of(tokenizer)) {
  const auto& mc = model_.config();
  max_seq_ = static_cast<int>(std::min<std::int64_t>(options_.max_seq, mc.max_position_embeddings));
  PERSONAS_CHECK(max_seq_ >= 16, config, "model.max_seq: {} (capped by the model's {} positions) must be >= 16",
                 max_seq_, mc.max_position_embeddings);
  stop_ids_ = tokenizer_.stop_ids();  // eos and the template's end-of-turn tokens
  // Ids the model may emit that the tokenizer cannot decode (an embedding
  // rounded up to a multiple of 64) are skipped in the text.
  decodable_.assign(static_cast<std::size_t>(mc.vocab_size), 0);
  const auto n_tok = std::min<std::int64_t>(tokenizer_.vocab_size(), mc.vocab_size);
  for (std::int32_t id = 0; id < n_tok; ++id) decodable_[static_cast<std::size_t>(id)] = tokenizer_.has_id(id) ? 1 : 0;
}

void LocalChatClient::chat_async(const std::vector<ChatMessage>& messages, const ChatOptions& options, Done done) {
  queue_.push_back({messages, options, std::move(done)});
}

namespace {

// A chat's own seed: the configured one mixed with the chat's text (so the
// user and the step), so that its answer does not depend on the queue's order.
std::uint64_t chat_seed(const std::vector<ChatMessage>& messages, std::int64_t seed) {
  std::string all;
  for (const auto& m : messages) all += m.role + '\0' + m.content + '\0';
  return hash_pair(static_cast<std::uint64_t>(std::max<std::int64_t>(seed, 0)), fnv1a64(all));
}

}  // namespace

// The state of one run(): the chats taken from the queue, numbered in that
// order, and their generations, numbered as generate_batch numbers the
// requests. The client's queue and counters are updated in place.
class LocalChatClient::Batch {
 public:
  explicit Batch(LocalChatClient& client)
      : client_(client), transcript_(client.format_ == ChatFormat::transcript), joiner_(transcript_ ? " " : "") {}
  // Decodes every queued chat, and those the done callbacks queue meanwhile, in one generate_batch.
  void run();

 private:
  // A sampled scaffold value that ends at once (a stop token or a quote first)
  // is drawn again with the next derived seed, a few times, before the empty
  // value goes to the distiller's repair round (greedy decoding would repeat
  // itself, so it is not retried).
  static constexpr int kSlotDraws = 4;

  struct Chat {
    Pending pending;
    ChatResult result;
    std::string prompt;
    std::uint64_t seed = 0;
    std::optional<ScaffoldBuilder> scaffold;  // set in the scaffold format
    std::uint64_t slot_index = 0;            // seeds of the values: hash_pair(seed, slot_index++)
    int draw = 0;
  };
  struct Generation {  // one request: its chat and the text streamed so far
    std::size_t chat = 0;
    bool slot = false;
    std::int64_t prompt_tokens = 0;
    std::unique_ptr<TokenStreamer> streamer;
    std::string text;
    bool cut = false;  // the text ended at a stop marker
  };

  // Starts every queued chat (the done callbacks may queue more meanwhile).
  void take_queue(std::vector<GenerateRequest>& out);
  // A chat taken from the queue: its seed, its prompt and, in the scaffold format, its scaffold.
  void prepare(Chat& chat);
  // The chat's next generation (the answer, the next value, or another draw
  // of this one), or its result when the answer is complete.
  void next(std::size_t c, std::vector<GenerateRequest>& out);
  // The request for a generation after `prompt_text`, sampled with `seed`.
  void submit(std::size_t c, const std::string& prompt_text, int max_new, bool slot, std::uint64_t seed,
              std::vector<GenerateRequest>& out);
  // `ids` cut from the left to leave room for max_new tokens, in steps of a
  // quarter of max_seq (warned about once per client).
  std::vector<std::int32_t> fit_prompt(std::vector<std::int32_t> ids, int max_new);
  // A token of `request`: its text, ending the sequence (false) at a stop marker.
  bool on_token(std::size_t request, std::int32_t id);
  // A generation ended with `tokens`: the chat's text, then what comes next.
  void on_finish(std::size_t request, const std::vector<std::int32_t>& tokens, std::vector<GenerateRequest>& out);
  // The streamer's last text, unless a stop marker ended the text already; the streamer is freed.
  void end_text(Generation& g);
  // A free answer: its text and finish reason, delivered.
  void finish_answer(Chat& chat, const Generation& g, const std::vector<std::int32_t>& tokens);
  // A scaffold value: drawn again when it came out empty (kSlotDraws), else filled in; then the chat's next step.
  void finish_value(std::size_t c, const Generation& g, std::vector<GenerateRequest>& out);
  // The chat's result to its done callback, counted in the usage.
  void deliver(Chat& chat);
  // One chat's failure, not the run's. A bug or a device fault (CUDA out of
  // memory) is an InternalError, not caught here: it stops every rank. Called
  // in a catch block only (it may rethrow `e`).
  void fail(Chat& chat, const Error& e);

  LocalChatClient& client_;
  const bool transcript_;
  const std::string joiner_;  // between the prompt and a scaffold's answer so far
  std::deque<Chat> chats_;  // deques: references stay valid as they grow
  std::deque<Generation> generations_;
};

void LocalChatClient::Batch::run() {
  std::vector<GenerateRequest> first;
  take_queue(first);
  if (first.empty()) return;
  BatchGenerateOptions o;
  o.max_batch = client_.options_.max_batch;
  o.keep_outputs = false;  // each answer's tokens go to on_finish only
  o.on_token = [this](std::size_t request, std::int32_t id) { return on_token(request, id); };
  o.on_finish = [this](std::size_t request, const std::vector<std::int32_t>& tokens,
                       std::vector<GenerateRequest>& out) { on_finish(request, tokens, out); };
  if (client_.options_.reuse_caches)
    o.on_cache = [this](std::size_t, GenerationCache&& cache) { client_.pool_cache(std::move(cache)); };
  const auto start = std::chrono::steady_clock::now();
  client_.model_.generate_batch(std::move(first), o);
  client_.generate_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PERSONAS_ASSERT(client_.queue_.empty(), "local chat: {} chats queued after the batch ended", client_.queue_.size());
}

void LocalChatClient::Batch::take_queue(std::vector<GenerateRequest>& out) {
  while (!client_.queue_.empty()) {
    chats_.emplace_back();
    const std::size_t c = chats_.size() - 1;
    Chat& chat = chats_.back();
    chat.pending = std::move(client_.queue_.front());
    client_.queue_.pop_front();
    try {
      prepare(chat);
      next(c, out);
    } catch (const Error& e) {
      fail(chat, e);
    }
  }
}

void LocalChatClient::Batch::prepare(Chat& chat) {
  const ChatOptions& options = chat.pending.options;
  chat.result.attempts = 1;
  chat.result.finish_reason = "stop";
  chat.seed = chat_seed(chat.pending.messages, options.seed);
  chat.prompt = render_chat(client_.tokenizer_, chat.pending.messages, client_.format_);
  // Scaffold: the answer's structure is ours; every string value is the
  // model's continuation of the conversation plus the answer so far.
  if (client_.options_.format == LocalFormat::scaffold && options.shape.known) chat.scaffold.emplace(options.shape);
}

void LocalChatClient::Batch::next(std::size_t c, std::vector<GenerateRequest>& out) {
  Chat& chat = chats_[c];
  if (!chat.scaffold) return submit(c, chat.prompt, chat.pending.options.max_tokens, false, chat.seed, out);
  if (chat.scaffold->done()) {
    chat.result.text = chat.scaffold->answer();
    return deliver(chat);
  }
  const auto& options = client_.options_;
  const int max_new = chat.scaffold->slot() == "profile" ? options.profile_tokens : options.note_tokens;
  submit(c, chat.prompt + joiner_ + chat.scaffold->so_far(), max_new, true, hash_pair(chat.seed, chat.slot_index++),
         out);
}

void LocalChatClient::Batch::submit(std::size_t c, const std::string& prompt_text, int max_new, bool slot,
                                    std::uint64_t seed, std::vector<GenerateRequest>& out) {
  const Tokenizer& tokenizer = client_.tokenizer_;
  max_new = std::max(1, std::min(max_new, client_.max_seq_ / 2));
  auto ids = fit_prompt(tokenizer.encode(prompt_text, /*add_bos=*/tokenizer.adds_bos()), max_new);
  Generation g;
  g.chat = c;
  g.slot = slot;
  g.prompt_tokens = static_cast<std::int64_t>(ids.size());
  g.streamer = std::make_unique<TokenStreamer>(tokenizer);
  generations_.push_back(std::move(g));
  GenerateRequest r;
  r.prompt = std::move(ids);
  r.adapter = -1;
  r.max_new_tokens = max_new;
  r.sampling.temperature = static_cast<float>(chats_[c].pending.options.temperature);
  r.sampling.seed = seed;
  r.sampling.repetition_penalty = client_.options_.repetition_penalty;
  r.stop_tokens = client_.stop_ids_;
  if (client_.options_.reuse_caches) {
    std::int64_t common = 0;
    r.reuse = client_.take_cache(r.prompt, common);
    client_.reused_prompt_tokens_ += common;
    r.keep_cache = true;
  }
  out.push_back(std::move(r));
}

std::vector<std::int32_t> LocalChatClient::Batch::fit_prompt(std::vector<std::int32_t> ids, int max_new) {
  const int max_seq = client_.max_seq_;
  const auto budget = static_cast<std::size_t>(max_seq - max_new);
  if (ids.size() <= budget) return ids;
  if (client_.truncated_prompts_++ == 0)
    plog::warn("distill: a prompt of {} tokens is cut from the left to at most {} (model.max_seq {} minus {} to generate); "
               "raise model.max_seq (up to the model's {} positions) to keep whole conversations",
               ids.size(), budget, max_seq, max_new, client_.model_.config().max_position_embeddings);
  // Keep the first token (BOS or the template's start) and the most recent
  // ones. The tokens dropped after the first are a multiple of a quarter of
  // max_seq (whatever the slot's budget), so the prompts of a growing
  // conversation (a scaffold's values) keep the same start between two steps
  // of the cut and the pooled caches still apply; the model sees at least the
  // budget minus a quarter of max_seq.
  const std::size_t quantum = std::max<std::size_t>(1, static_cast<std::size_t>(max_seq) / 4);
  const std::size_t excess = ids.size() - budget;
  const std::size_t dropped = std::min((excess + quantum - 1) / quantum * quantum, ids.size() - 2);
  std::vector<std::int32_t> cut;
  cut.reserve(ids.size() - dropped);
  cut.push_back(ids.front());
  cut.insert(cut.end(), ids.begin() + static_cast<std::ptrdiff_t>(1 + dropped), ids.end());
  return cut;
}

bool LocalChatClient::Batch::on_token(std::size_t request, std::int32_t id) {
  if (client_.options_.poll) client_.options_.poll();  // a stop ends the batch within one decode step
  const auto& decodable = client_.decodable_;
  if (id < 0 || static_cast<std::size_t>(id) >= decodable.size() || !decodable[static_cast<std::size_t>(id)])
    return true;
  Generation& g = generations_[request];
  g.text += g.streamer->push(id);
  g.cut = apply_stops(g.text, g.slot, transcript_);
  return !g.cut;
}

void LocalChatClient::Batch::on_finish(std::size_t request, const std::vector<std::int32_t>& tokens,
                                       std::vector<GenerateRequest>& out) {
  Generation& g = generations_[request];
  Chat& chat = chats_[g.chat];
  try {
    end_text(g);
    chat.result.prompt_tokens += g.prompt_tokens;
    chat.result.completion_tokens += static_cast<std::int64_t>(tokens.size());
    if (!chat.scaffold)
      finish_answer(chat, g, tokens);
    else
      finish_value(g.chat, g, out);
  } catch (const Error& e) {
    fail(chat, e);
  }
  g.text.clear();
  take_queue(out);  // chats the done callbacks queued join this batch
}

void LocalChatClient::Batch::end_text(Generation& g) {
  if (!g.cut) {
    g.text += g.streamer->finish();
    g.cut = apply_stops(g.text, g.slot, transcript_);
  }
  g.streamer.reset();
}

void LocalChatClient::Batch::finish_answer(Chat& chat, const Generation& g, const std::vector<std::int32_t>& tokens) {
  const auto& stops = client_.stop_ids_;
  const bool stopped =
      g.cut || (!tokens.empty() && std::find(stops.begin(), stops.end(), tokens.back()) != stops.end());
  if (!stopped) chat.result.finish_reason = "length";
  chat.result.text = std::string(trim(clean_generated_text(g.text, true)));
  deliver(chat);
}

void LocalChatClient::Batch::finish_value(std::size_t c, const Generation& g, std::vector<GenerateRequest>& out) {
  Chat& chat = chats_[c];
  if (trim(g.text).empty() && chat.pending.options.temperature > 0 && chat.draw + 1 < kSlotDraws) {
    ++chat.draw;
  } else {
    chat.draw = 0;
    chat.scaffold->fill(g.text);
  }
  next(c, out);
}

void LocalChatClient::Batch::deliver(Chat& chat) {
  LlmUsage& usage = client_.usage_;
  ++usage.calls;
  if (!chat.result.ok()) ++usage.failed_calls;
  usage.prompt_tokens += chat.result.prompt_tokens;
  usage.completion_tokens += chat.result.completion_tokens;
  chat.pending.done(std::move(chat.result));
}

void LocalChatClient::Batch::fail(Chat& chat, const Error& e) {
  // An error from the caller's done callback (a stop, a test hook) is the run's, not this chat's.
  if (!chat.pending.done || e.kind() == ErrorKind::interrupted) throw;
  chat.result = {};
  chat.result.status = ChatStatus::failed;
  chat.result.error = e.message();
  deliver(chat);
}

std::shared_ptr<const GenerationCache> LocalChatClient::take_cache(const std::vector<std::int32_t>& ids,
                                                                   std::int64_t& common) {
  common = 0;
  std::size_t best = pool_.size();
  for (std::size_t i = 0; i < pool_.size(); ++i) {
    const std::size_t n = reusable_prefix(pool_[i].cache->tokens, ids);
    if (static_cast<std::int64_t>(n) > common) {
      common = static_cast<std::int64_t>(n);
      best = i;
    }
  }
  if (best == pool_.size()) return nullptr;
  auto cache = pool_[best].cache;
  pool_[best].last_use = ++pool_clock_;
  // Its own chat continues it (at least 90% of it shared): it leaves the pool for the cache this request leaves.
  if (10 * common >= 9 * static_cast<std::int64_t>(cache->tokens.size()))
    pool_.erase(pool_.begin() + static_cast<std::ptrdiff_t>(best));
  return cache;
}

void LocalChatClient::pool_cache(GenerationCache&& cache) {
  const auto capacity = static_cast<std::size_t>(std::max(1, options_.max_batch));
  if (pool_.size() >= capacity) {  // the least recently used goes
    auto oldest = std::min_element(pool_.begin(), pool_.end(),
                                   [](const PooledCache& a, const PooledCache& b) { return a.last_use < b.last_use; });
    pool_.erase(oldest);
  }
  pool_.push_back({std::make_shared<const GenerationCache>(std::move(cache)), ++pool_clock_});
}

// Every queued chat is answered through one generate_batch: free text is one
// request per chat; a scaffold is one request per value, the next value of a
// chat queued when its previous one ends, so the values of different chats
// decode side by side. Chats that the done callbacks queue (the distiller's
// next chat, a repair round) join the same batch. Each request samples with
// its own seed and generate_batch gives a request the same tokens whatever
// else is in the batch, so every answer is the one a chat gets alone.
void LocalChatClient::run() { Batch(*this).run(); }

namespace {

void check_checkpoint_exists(const fs::path& checkpoint) {
  PERSONAS_CHECK_HINT(fs::is_regular_file(checkpoint), io,
                      "set model.path to a checkpoint (`personas convert` or `personas init-model` output), or make "
                      "RUN/model/base.h5 first with `personas model`",
                      "distill.provider = local: the checkpoint '{}' does not exist", checkpoint.string());
}

}  // namespace

std::string checkpoint_file_fingerprint(const fs::path& checkpoint) {
  check_checkpoint_exists(checkpoint);
  const auto size = static_cast<std::uint64_t>(fs::file_size(checkpoint));
  std::ifstream in(checkpoint, std::ios::binary);
  PERSONAS_CHECK(in.good(), io, "cannot read '{}'", checkpoint.string());
  constexpr std::uint64_t kBlock = 64 * 1024, kBlocks = 16;
  std::string block(kBlock, '\0');
  std::uint64_t h = hash_pair(size, 0);
  for (std::uint64_t b = 0; b < kBlocks; ++b) {
    const std::uint64_t offset = size > kBlock ? (size - kBlock) * b / (kBlocks - 1) : 0;
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(block.data(), static_cast<std::streamsize>(std::min(kBlock, size)));
    h = fnv1a64(std::string_view(block.data(), static_cast<std::size_t>(in.gcount())), h);
    in.clear();
  }
  return fmt::format("{:016x}", h);
}

LocalEngine load_local_engine(const fs::path& checkpoint, BackendKind backend_kind, int device_index,
                              const std::string& chat_template, DeviceDtypeSetting device_dtype) {
  check_checkpoint_exists(checkpoint);
  EngineOptions o;
  o.device_dtype = device_dtype;
  o.backend = backend_kind;
  o.device_index = device_index;
  o.n_adapters = 1;
  o.chat_template = chat_template;
  o.what = "distill.provider = local";
  return load_engine(checkpoint, o);
}

}  // namespace personas
