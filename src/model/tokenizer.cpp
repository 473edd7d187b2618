#include "model/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <string>
#include <unordered_map>

#include "core/errors.h"
#include "core/strings.h"
#include "model/sentencepiece_spec.h"

namespace personas {

namespace {

// Phi-3's added tokens, as in its tokenizer.json (ids 32000..32010).
std::vector<AddedToken> phi3_added_tokens() {
  std::vector<AddedToken> t;
  t.push_back({32000, "<|endoftext|>", false, false, true});
  t.push_back({32001, "<|assistant|>", false, true, true});
  for (int i = 1; i <= 4; ++i) t.push_back({32001 + i, "<|placeholder" + std::to_string(i) + "|>", false, true, true});
  t.push_back({32006, "<|system|>", false, true, true});
  t.push_back({32007, "<|end|>", false, true, true});
  t.push_back({32008, "<|placeholder5|>", false, true, true});
  t.push_back({32009, "<|placeholder6|>", false, true, true});
  t.push_back({32010, "<|user|>", false, true, true});
  return t;
}

const std::vector<std::string>& chat_symbols() {
  static const std::vector<std::string> s = {"<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"};
  return s;
}

void check_status(const sentencepiece::util::Status& status, const std::string& what) {
  PERSONAS_CHECK(status.ok(), data, "{}: {}", what, status.ToString());
}

}  // namespace

struct Tokenizer::Impl {
  std::unique_ptr<ByteBpeTokenizer> bpe;  // kind byte_bpe; the SentencePiece members below stay unused
  sentencepiece::SentencePieceProcessor sp;
  std::unordered_map<std::int32_t, const AddedToken*> added_by_id;
  // Bytes an added token can start with: encode() compares the added tokens
  // only at such positions (it compared every token at every byte, which was
  // a quarter of sample building's time).
  std::array<bool, 256> may_start{};
  // Identifies this tokenizer in the per-thread segment cache below (an
  // address could be reused by another tokenizer after this one is gone).
  std::uint64_t serial = next_serial();
  // Whether plain text may be encoded word by word (see WordCache below).
  bool by_words = false;

  static std::uint64_t next_serial() {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }
};

namespace {

// The last few plain-text segments each thread encoded, with their ids.
// Sample building encodes the same long segments again and again (a user's
// system prompt in each of the user's samples, each prompt once alone and
// once inside the whole conversation); SentencePiece gives the same ids for
// the same text, so they are looked up instead. Short segments are not
// worth it and skip the cache.
struct SegmentCache {
  static constexpr std::size_t kSlots = 8;
  static constexpr std::size_t kMinBytes = 48;
  std::uint64_t serial = 0;
  std::array<std::string, kSlots> text;
  std::array<std::vector<int>, kSlots> ids;
  std::size_t next = 0;

  const std::vector<int>* find(std::uint64_t owner, std::string_view segment) const {
    if (owner != serial) return nullptr;
    for (std::size_t i = 0; i < kSlots; ++i)
      if (text[i] == segment) return &ids[i];
    return nullptr;
  }
  void put(std::uint64_t owner, std::string_view segment, const std::vector<int>& segment_ids) {
    if (owner != serial) {
      serial = owner;
      for (auto& t : text) t.clear();
    }
    text[next].assign(segment);
    ids[next] = segment_ids;
    next = (next + 1) % kSlots;
  }
};

thread_local SegmentCache segment_cache;

// Each thread's ids of the words it has encoded. With SentencePiece's BPE,
// no piece crossing a word start ("▁"), an identity normalizer and a dummy
// prefix, encoding "w1 w2 w3" gives exactly encode("w1") + encode("w2") +
// encode("w3"): the normalized text is "▁w1▁w2▁w3", every merge stays
// inside one "▁word", and encoding a word alone prepends the same "▁".
// Prompts repeat their words (titles, genres, the template's phrases), so
// most words are looked up instead of merged: the merges were half of
// sample building's time. Text with leading, trailing or doubled spaces
// goes to SentencePiece whole (an empty word has no id of its own).
struct WordCache {
  static constexpr std::size_t kMaxWords = std::size_t{1} << 18;  // then start afresh (bounded memory)
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Span {
    std::uint32_t offset = 0;
    std::uint32_t count = 0;
  };
  std::uint64_t serial = 0;
  std::unordered_map<std::string, Span, Hash, std::equal_to<>> words;
  std::vector<int> ids;

  void reset(std::uint64_t owner) {
    serial = owner;
    words.clear();
    ids.clear();
  }
};

thread_local WordCache word_cache;

constexpr std::string_view kWordStart = "\xe2\x96\x81";  // "▁", SentencePiece's escaped space

bool only_word_starts(std::string_view piece) {
  for (std::size_t i = 0; i < piece.size(); i += kWordStart.size())
    if (piece.substr(i, kWordStart.size()) != kWordStart) return false;
  return !piece.empty();
}

// The conditions of WordCache's equality, checked on the model itself.
bool model_allows_word_lookup(const SentencePieceSpec& spec, const sentencepiece::SentencePieceProcessor& sp) {
  constexpr int kBpe = 2;
  if (spec.model_type != kBpe || !spec.split_by_whitespace || spec.treat_whitespace_as_suffix) return false;
  if (spec.has_charsmap || !spec.add_dummy_prefix || !spec.escape_whitespaces) return false;
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    const std::string& piece = sp.IdToPiece(id);
    const auto inner = piece.find(kWordStart, 1);
    // A piece of spaces only ("▁▁", Phi-3 has them) needs two spaces in a row, which never reach the word path.
    if (inner != std::string::npos && !only_word_starts(piece)) return false;
  }
  return true;
}

bool splits_into_words(std::string_view text) {
  return !text.empty() && text.front() != ' ' && text.back() != ' ' && text.find("  ") == std::string_view::npos;
}

}  // namespace

const char* tokenizer_kind_name(TokenizerKind k) {
  return k == TokenizerKind::byte_bpe ? "byte_bpe" : "sentencepiece";
}

TokenizerKind parse_tokenizer_kind(const std::string& name, const std::string& where) {
  if (name == "sentencepiece") return TokenizerKind::sentencepiece;
  if (name == "byte_bpe") return TokenizerKind::byte_bpe;
  PERSONAS_FAIL(data, "{}: unknown tokenizer kind '{}' (expected sentencepiece or byte_bpe)", where, name);
}

void override_chat_template(TokenizerData& data, const std::string& name) {
  if (name.empty()) return;
  try {
    data.chat_template = parse_chat_template(name, "model.chat_template");
  } catch (const Error& e) {
    PERSONAS_FAIL(config, "{}", e.message());
  }
}

TokenizerData phi3_tokenizer_data(std::string model_bytes) {
  TokenizerData d;
  d.model_bytes = std::move(model_bytes);
  d.added_tokens = phi3_added_tokens();
  d.chat_template = ChatTemplate::phi3;
  d.bos_id = 1;
  d.eos_id = 32000;
  d.pad_id = 32000;
  return d;
}

TokenizerData plain_tokenizer_data(std::string model_bytes) {
  sentencepiece::SentencePieceProcessor sp;
  check_status(sp.LoadFromSerializedProto(model_bytes), "cannot parse the SentencePiece model");
  TokenizerData d;
  d.model_bytes = std::move(model_bytes);
  d.bos_id = sp.bos_id();
  d.eos_id = sp.eos_id();
  d.pad_id = sp.pad_id();
  return d;
}

TokenizerData trained_tokenizer_data(std::string model_bytes) {
  sentencepiece::SentencePieceProcessor sp;
  check_status(sp.LoadFromSerializedProto(model_bytes), "cannot parse the SentencePiece model");
  TokenizerData d;
  for (const auto& symbol : chat_symbols()) {
    const int id = sp.PieceToId(symbol);
    PERSONAS_CHECK(id != sp.unk_id(), data,
                   "the SentencePiece model has no piece '{}' (was it made by train_sentencepiece?)", symbol);
    d.added_tokens.push_back({id, symbol, false, symbol != "<|endoftext|>", true});
  }
  d.model_bytes = std::move(model_bytes);
  d.chat_template = ChatTemplate::phi3;
  d.bos_id = sp.bos_id();
  d.eos_id = d.added_tokens.front().id;
  d.pad_id = d.eos_id;
  return d;
}

Tokenizer::Tokenizer(TokenizerData data) : data_(std::move(data)), impl_(std::make_unique<Impl>()) {
  if (data_.kind == TokenizerKind::byte_bpe) {
    PERSONAS_CHECK(data_.added_tokens.empty(), data,
                   "a byte-level BPE tokenizer marks its special tokens by token type, not as added tokens");
    impl_->bpe = std::make_unique<ByteBpeTokenizer>(data_.bpe);
    const std::int32_t n = impl_->bpe->vocab_size();
    auto check_id = [n](std::int32_t id, const char* field) {
      PERSONAS_CHECK(id >= -1 && id < n, data, "tokenizer {} {} is outside the vocabulary of {}", field, id, n);
    };
    check_id(data_.bos_id, "bos_id");
    check_id(data_.eos_id, "eos_id");
    check_id(data_.pad_id, "pad_id");
    return;
  }
  PERSONAS_CHECK_HINT(!data_.model_bytes.empty(), data, "checkpoints made by convert/init-model carry one",
                      "the tokenizer has no SentencePiece model");
  check_status(impl_->sp.LoadFromSerializedProto(data_.model_bytes), "cannot parse the SentencePiece model");
  // Longest contents first so that matching prefers "<|endoftext|>" over a shorter prefix.
  std::stable_sort(data_.added_tokens.begin(), data_.added_tokens.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  for (const auto& a : data_.added_tokens) {
    PERSONAS_CHECK(!a.content.empty() && a.id >= 0, data, "added token {} '{}' is invalid", a.id, a.content);
    impl_->added_by_id[a.id] = &a;
    impl_->may_start[static_cast<unsigned char>(a.content.front())] = true;
  }
  impl_->by_words = model_allows_word_lookup(read_sentencepiece_spec(data_.model_bytes), impl_->sp);
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&& o) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&& o) noexcept = default;

const std::vector<std::pair<std::string, SentencePieceAdded>>& sentencepiece_added_names() {
  static const std::vector<std::pair<std::string, SentencePieceAdded>> names = {
      {"auto", SentencePieceAdded::auto_detect},
      {"phi3", SentencePieceAdded::phi3},
      {"chat", SentencePieceAdded::chat},
      {"none", SentencePieceAdded::none}};
  return names;
}

TokenizerData tokenizer_data_from_model_file(const fs::path& path, SentencePieceAdded added) {
  std::string bytes = read_file(path);
  try {
    switch (added) {
      case SentencePieceAdded::phi3: return phi3_tokenizer_data(std::move(bytes));
      case SentencePieceAdded::chat: return trained_tokenizer_data(std::move(bytes));
      case SentencePieceAdded::none: break;
      case SentencePieceAdded::auto_detect: {
        const Tokenizer plain(plain_tokenizer_data(bytes));
        const bool has_chat = std::all_of(chat_symbols().begin(), chat_symbols().end(),
                                          [&](const std::string& s) { return plain.piece_to_id(s) >= 0; });
        if (has_chat) return trained_tokenizer_data(std::move(bytes));
        break;
      }
    }
    return plain_tokenizer_data(std::move(bytes));
  } catch (const Error& e) {
    PERSONAS_FAIL(data, "{}: {}", path.string(), e.message());
  }
}

Tokenizer Tokenizer::from_model_file(const fs::path& path, bool phi3) {
  return Tokenizer(tokenizer_data_from_model_file(path, phi3 ? SentencePieceAdded::phi3 : SentencePieceAdded::none));
}

bool Tokenizer::encodes_word_by_word() const { return impl_->by_words; }  // false for byte_bpe (it caches words itself)

void Tokenizer::encode_words(std::string_view text, std::vector<std::int32_t>& out) const {
  WordCache& cache = word_cache;
  if (cache.serial != impl_->serial) cache.reset(impl_->serial);
  std::vector<int> fresh;
  for (std::size_t begin = 0;;) {
    const std::size_t space = text.find(' ', begin);
    const std::size_t end = space == std::string_view::npos ? text.size() : space;
    const std::string_view word = text.substr(begin, end - begin);
    auto it = cache.words.find(word);
    if (it == cache.words.end()) {
      if (cache.words.size() >= WordCache::kMaxWords) cache.reset(impl_->serial);
      fresh.clear();
      check_status(impl_->sp.Encode(word, &fresh), "SentencePiece could not encode the text");
      const WordCache::Span span{static_cast<std::uint32_t>(cache.ids.size()), static_cast<std::uint32_t>(fresh.size())};
      cache.ids.insert(cache.ids.end(), fresh.begin(), fresh.end());
      it = cache.words.emplace(std::string(word), span).first;
    }
    const auto first = cache.ids.begin() + it->second.offset;
    out.insert(out.end(), first, first + it->second.count);
    if (space == std::string_view::npos) return;
    begin = space + 1;
  }
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_bos, WordLookup lookup) const {
  std::vector<std::int32_t> out;
  if (add_bos) out.push_back(data_.bos_id);
  if (impl_->bpe) {
    auto ids = impl_->bpe->encode(text, /*parse_special=*/true);
    out.insert(out.end(), ids.begin(), ids.end());
    return out;
  }
  const bool by_words = impl_->by_words && lookup == WordLookup::cached;
  auto encode_plain = [&](std::string_view piece) {
    if (piece.empty()) return;
    const bool cacheable = lookup == WordLookup::cached && piece.size() >= SegmentCache::kMinBytes;
    if (cacheable)
      if (const auto* hit = segment_cache.find(impl_->serial, piece)) {
        out.insert(out.end(), hit->begin(), hit->end());
        return;
      }
    const std::size_t first = out.size();
    if (by_words && splits_into_words(piece)) {
      encode_words(piece, out);
    } else {
      std::vector<int> ids;
      check_status(impl_->sp.Encode(piece, &ids), "SentencePiece could not encode the text");
      out.insert(out.end(), ids.begin(), ids.end());
    }
    if (cacheable) segment_cache.put(impl_->serial, piece, {out.begin() + first, out.end()});
  };
  std::size_t start = 0;  // start of the pending plain text
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!impl_->may_start[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const AddedToken* match = nullptr;
    for (const auto& a : data_.added_tokens) {  // longest first
      if (text.compare(pos, a.content.size(), a.content) == 0) {
        match = &a;
        break;
      }
    }
    if (!match) {
      ++pos;
      continue;
    }
    std::size_t plain_end = pos;
    if (match->lstrip)
      while (plain_end > start && is_ascii_space(text[plain_end - 1])) --plain_end;
    encode_plain(text.substr(start, plain_end - start));
    out.push_back(match->id);
    pos += match->content.size();
    if (match->rstrip)
      while (pos < text.size() && is_ascii_space(text[pos])) ++pos;
    start = pos;
  }
  encode_plain(text.substr(start));
  return out;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special) const {
  if (impl_->bpe) return impl_->bpe->decode(ids, skip_special);
  std::string out;
  std::vector<int> run;
  auto flush = [&] {
    if (run.empty()) return;
    std::string text;
    check_status(impl_->sp.Decode(run, &text), "SentencePiece could not decode the ids");
    out += text;
    run.clear();
  };
  const int n_pieces = impl_->sp.GetPieceSize();
  for (auto id : ids) {
    auto it = impl_->added_by_id.find(id);
    if (it != impl_->added_by_id.end()) {
      flush();
      if (!(skip_special && it->second->special)) out += it->second->content;
      continue;
    }
    PERSONAS_CHECK(id >= 0 && id < n_pieces, data, "token id {} is outside the vocabulary of {}", id, n_pieces);
    run.push_back(id);
  }
  flush();
  return out;
}

std::string Tokenizer::id_to_piece(std::int32_t id) const {
  if (impl_->bpe) return impl_->bpe->id_to_piece(id);
  auto it = impl_->added_by_id.find(id);
  if (it != impl_->added_by_id.end()) return it->second->content;
  PERSONAS_CHECK(id >= 0 && id < impl_->sp.GetPieceSize(), data, "token id {} is outside the vocabulary of {}", id,
                 impl_->sp.GetPieceSize());
  return impl_->sp.IdToPiece(id);
}

bool Tokenizer::has_id(std::int32_t id) const {
  if (id < 0) return false;
  if (impl_->bpe) return id < impl_->bpe->vocab_size();
  return id < impl_->sp.GetPieceSize() || impl_->added_by_id.count(id) > 0;
}

std::int32_t Tokenizer::piece_to_id(std::string_view piece) const {
  if (impl_->bpe) return impl_->bpe->piece_to_id(piece);
  for (const auto& a : data_.added_tokens)
    if (a.content == piece) return a.id;
  const int id = impl_->sp.PieceToId(piece);
  if (id == impl_->sp.unk_id() && piece != impl_->sp.IdToPiece(id)) return -1;
  return id;
}

bool Tokenizer::is_byte(std::int32_t id) const {
  if (impl_->bpe) return false;  // byte-level BPE has no byte-fallback pieces
  return id >= 0 && id < impl_->sp.GetPieceSize() && impl_->sp.IsByte(id);
}

std::int32_t Tokenizer::vocab_size() const {
  if (impl_->bpe) return impl_->bpe->vocab_size();
  std::int32_t n = impl_->sp.GetPieceSize();
  for (const auto& a : data_.added_tokens) n = std::max(n, a.id + 1);
  return n;
}

std::vector<std::int32_t> Tokenizer::stop_ids() const {
  std::vector<std::int32_t> ids;
  auto add = [&](std::int32_t id) {
    if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  add(data_.eos_id);
  // Phi-3-style vocabularies end turns with <|end|> whatever the template says (trained quickstart tokenizers).
  std::vector<std::string> ends = chat_turn_end_tokens(data_.chat_template);
  for (const char* t : {"<|end|>", "<|endoftext|>"}) ends.emplace_back(t);
  for (const auto& t : ends) {
    if (impl_->bpe) {
      const auto id = impl_->bpe->piece_to_id(t);
      if (id >= 0 && impl_->bpe->token_type(id) != BpeTokenType::normal) add(id);
    } else {
      for (const auto& a : data_.added_tokens)
        if (a.content == t) add(a.id);
    }
  }
  return ids;
}

std::string Tokenizer::apply_chat_template(const std::vector<ChatMessage>& messages,
                                           bool add_generation_prompt) const {
  return render_chat_template(data_.chat_template, messages, add_generation_prompt, data_.chat_default_system);
}

namespace {

// Bytes of `text` up to (not into) a trailing UTF-8 sequence that is not
// complete yet: a streamer holds those back until the next token.
std::size_t complete_utf8_prefix(std::string_view text) {
  const std::size_t n = text.size();
  for (std::size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return len > back ? n - back : n;
  }
  return n;
}

}  // namespace

std::string TokenStreamer::push(std::int32_t id) {
  ids_.push_back(id);
  // Byte-fallback pieces may be the first bytes of one UTF-8 character: wait
  // for the next non-byte piece before printing them.
  if (tokenizer_.is_byte(id)) return {};
  std::string text = tokenizer_.decode(ids_);
  const std::size_t ready = complete_utf8_prefix(text);
  if (ready <= emitted_) return {};
  std::string fresh = text.substr(emitted_, ready - emitted_);
  emitted_ = ready;
  return fresh;
}

std::string TokenStreamer::finish() {
  std::string text = tokenizer_.decode(ids_);
  if (text.size() <= emitted_) return {};
  std::string fresh = text.substr(emitted_);
  emitted_ = text.size();
  return fresh;
}

std::string train_sentencepiece(const fs::path& corpus, const SentencePieceTrainOptions& options) {
  PERSONAS_CHECK(fs::is_regular_file(corpus), io, "tokenizer corpus '{}' does not exist", corpus.string());
  PERSONAS_CHECK(options.vocab_size >= 300, config,
                 "tokenizer vocab_size {} is too small: byte fallback alone needs 256 + {} pieces",
                 options.vocab_size, chat_symbols().size() + 3);
  std::string symbols;
  for (const auto& s : chat_symbols()) symbols += (symbols.empty() ? "" : ",") + s;
  std::unordered_map<std::string, std::string> args = {
      {"input", corpus.string()},
      {"model_type", options.model_type},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"byte_fallback", "true"},
      {"character_coverage", "1.0"},
      {"split_digits", "true"},
      {"user_defined_symbols", symbols},
      {"max_sentence_length", std::to_string(options.max_sentence_length)},
      {"input_sentence_size", std::to_string(options.input_sentence_size)},
      {"shuffle_input_sentence", "false"},
      {"num_threads", std::to_string(options.num_threads)},
      {"minloglevel", "2"},
      {"hard_vocab_limit", "false"},
      {"add_dummy_prefix", "true"},
      {"remove_extra_whitespaces", "false"},
      {"normalization_rule_name", "identity"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
  };
  std::string model;
  auto status = sentencepiece::SentencePieceTrainer::Train(args, nullptr, &model);
  PERSONAS_CHECK(status.ok(), data, "{}: SentencePiece training failed: {}", corpus.string(), status.ToString());
  PERSONAS_CHECK(!model.empty(), internal, "SentencePiece training produced no model");
  return model;
}

}  // namespace personas
