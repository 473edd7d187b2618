#include "distill/local_chat_client.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>

#include "core/errors.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/strings.h"

namespace personas {

LocalFormat parse_local_format(const std::string& name) {
  if (name == "scaffold") return LocalFormat::scaffold;
  if (name == "free") return LocalFormat::free;
  PERSONAS_FAIL(config, "distill.local_format: '{}' is not scaffold or free", name);
}

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

}  // namespace

std::string build_scaffold_answer(const AnswerShape& shape,
                                  const std::function<std::string(const std::string&, const std::string&)>& fill) {
  auto value = [&](const std::string& so_far, const std::string& slot) {
    return std::string(trim(clean_generated_text(fill(so_far, slot), false)));
  };
  std::string a = "{";
  if (shape.n_notes >= 0) {
    a += "\"notes\": [";
    for (int k = 1; k <= shape.n_notes; ++k) {
      if (k > 1) a += ", ";
      a += fmt::format("{{\"item\": {}, \"reason\": \"", k);
      auto reason = value(a + "because ", "reason");
      if (!reason.empty()) a += json_string_body("because " + reason);
      a += "\"}";
    }
    a += "], ";
  }
  a += "\"profile\": \"";
  a += json_string_body(value(a, "profile"));
  a += "\"}";
  return a;
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
  for (std::int32_t id = 0; id < n_tok; ++id) {
    try {
      tokenizer_.id_to_piece(id);
      decodable_[static_cast<std::size_t>(id)] = 1;
    } catch (const Error&) {
    }
  }
}

void LocalChatClient::chat_async(const std::vector<ChatMessage>& messages, const ChatOptions& options, Done done) {
  queue_.push_back({messages, options, std::move(done)});
}

void LocalChatClient::run() {
  while (!queue_.empty()) {
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    ChatResult r;
    try {
      r = answer(p.messages, p.options);
    } catch (const Error& e) {  // one chat's failure, not the run's
      if (is_internal_error(e)) throw;  // a bug or a device fault (CUDA out of memory): stops every rank
      r = {};
      r.status = ChatStatus::failed;
      r.error = e.message();
    }
    ++usage_.calls;
    if (!r.ok()) ++usage_.failed_calls;
    usage_.prompt_tokens += r.prompt_tokens;
    usage_.completion_tokens += r.completion_tokens;
    p.done(std::move(r));
  }
}

std::string LocalChatClient::generate(const std::string& prompt_text, int max_new, bool slot, std::uint64_t seed,
                                      double temperature, ChatResult& result) {
  max_new = std::max(1, std::min(max_new, max_seq_ / 2));
  auto ids = tokenizer_.encode(prompt_text, /*add_bos=*/tokenizer_.adds_bos());
  const auto budget = static_cast<std::size_t>(max_seq_ - max_new);
  if (ids.size() > budget) {  // keep the first token (BOS or the template's start) and the most recent ones
    if (truncated_prompts_++ == 0)
      plog::warn("distill: a prompt of {} tokens is cut from the left to {} (model.max_seq {} minus {} to generate); "
                 "raise model.max_seq (up to the model's {} positions) to keep whole conversations",
                 ids.size(), budget, max_seq_, max_new, model_.config().max_position_embeddings);
    std::vector<std::int32_t> cut;
    cut.reserve(budget);
    cut.push_back(ids.front());
    cut.insert(cut.end(), ids.end() - static_cast<std::ptrdiff_t>(budget - 1), ids.end());
    ids = std::move(cut);
  }
  TokenStreamer streamer(tokenizer_);
  std::string text;
  bool cut = false;
  // Ends the text at a stop marker; true when one was found.
  auto apply_stops = [&] {
    if (slot) {
      while (true) {
        auto pos = text.find_first_of("\"\n");
        if (pos == std::string::npos) return false;
        if (trim(std::string_view(text).substr(0, pos)).empty()) {  // a leading quote/newline: skipped
          text.erase(0, pos + 1);
          continue;
        }
        text.resize(pos);
        return true;
      }
    }
    if (format_ == ChatFormat::transcript) {
      for (const char* marker : {"\nUser:", "\nSystem:"})
        if (auto pos = text.find(marker); pos != std::string::npos) {
          text.resize(pos);
          return true;
        }
    }
    return false;
  };
  GenerateOptions g;
  g.max_new_tokens = max_new;
  g.sampling.temperature = static_cast<float>(temperature);
  g.sampling.seed = seed;
  g.stop_tokens = stop_ids_;
  g.on_token = [&](std::int32_t id) {
    if (id < 0 || static_cast<std::size_t>(id) >= decodable_.size() || !decodable_[static_cast<std::size_t>(id)])
      return true;
    text += streamer.push(id);
    cut = apply_stops();
    return !cut;
  };
  auto start = std::chrono::steady_clock::now();
  auto out = model_.generate(ids, g, /*adapter=*/-1);
  generate_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!cut) {
    text += streamer.finish();
    cut = apply_stops();
  }
  result.prompt_tokens += static_cast<std::int64_t>(ids.size());
  result.completion_tokens += static_cast<std::int64_t>(out.size());
  const bool stopped = cut || (!out.empty() && std::find(stop_ids_.begin(), stop_ids_.end(), out.back()) != stop_ids_.end());
  if (!stopped) result.finish_reason = "length";
  return text;
}

ChatResult LocalChatClient::answer(const std::vector<ChatMessage>& messages, const ChatOptions& options) {
  ChatResult r;
  r.attempts = 1;
  r.finish_reason = "stop";
  std::string all;
  for (const auto& m : messages) all += m.role + '\0' + m.content + '\0';
  const auto chat_seed = hash_pair(static_cast<std::uint64_t>(std::max<std::int64_t>(options.seed, 0)), fnv1a64(all));
  const std::string prompt = render_chat(tokenizer_, messages, format_);
  if (options_.format == LocalFormat::free || !options.shape.known) {
    auto text = generate(prompt, options.max_tokens, /*slot=*/false, chat_seed, options.temperature, r);
    r.text = std::string(trim(clean_generated_text(text, true)));
    return r;
  }
  // Scaffold: the answer's structure is ours; every string value is the
  // model's continuation of the conversation plus the answer so far.
  const std::string joiner = format_ == ChatFormat::transcript ? " " : "";
  std::uint64_t slot_index = 0;
  r.text = build_scaffold_answer(options.shape, [&](const std::string& so_far, const std::string& slot) {
    // A sampled slot that ends at once (a stop token or a quote first) is
    // drawn again with the next derived seed, a few times, before the empty
    // value goes to the distiller's repair round (greedy decoding would repeat
    // itself, so it is not retried).
    constexpr int kSlotDraws = 4;
    std::string text;
    for (int draw = 0; draw < kSlotDraws && trim(text).empty() && (draw == 0 || options.temperature > 0); ++draw) {
      ChatResult part;
      text = generate(prompt + joiner + so_far, slot == "profile" ? options_.profile_tokens : options_.note_tokens,
                      /*slot=*/true, hash_pair(chat_seed, slot_index++), options.temperature, part);
      r.prompt_tokens += part.prompt_tokens;
      r.completion_tokens += part.completion_tokens;
    }
    return text;
  });
  return r;
}

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

LocalEngine load_local_engine(const fs::path& checkpoint, const std::string& backend_kind, int device_index,
                              const std::string& chat_template) {
  check_checkpoint_exists(checkpoint);
  EngineOptions o;
  o.backend = backend_kind;
  o.device_index = device_index;
  o.n_adapters = 1;
  o.chat_template = chat_template;
  o.what = "distill.provider = local";
  return load_engine(checkpoint, o);
}

}  // namespace personas
