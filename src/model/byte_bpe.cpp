#include "model/byte_bpe.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <queue>
#include <unordered_map>

#include "core/errors.h"
#include "model/byte_unicode.h"
#include "model/pretokenizer.h"

namespace personas {

using bpe_detail::byte_char_utf8;

PreTokenizer parse_pre_tokenizer(const std::string& name) {
  if (name == "gpt2") return PreTokenizer::gpt2;
  if (name == "smollm") return PreTokenizer::smollm;
  if (name == "llama3" || name == "llama-bpe") return PreTokenizer::llama3;
  if (name == "qwen2") return PreTokenizer::qwen2;
  PERSONAS_FAIL(data, "unknown byte-level BPE pre-tokenizer '{}' (known: gpt2, smollm, llama3 = llama-bpe, qwen2)", name);
}

const char* pre_tokenizer_name(PreTokenizer pre) {
  switch (pre) {
    case PreTokenizer::gpt2: return "gpt2";
    case PreTokenizer::smollm: return "smollm";
    case PreTokenizer::llama3: return "llama3";
    case PreTokenizer::qwen2: return "qwen2";
  }
  return "?";
}

namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Result of merging an adjacent pair of token ids.
struct Merge {
  std::int32_t rank = 0;
  std::int32_t result = 0;
};

std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

struct PairHash {
  std::size_t operator()(std::uint64_t k) const {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<std::size_t>(k);
  }
};

// A bounded per-thread cache of word -> ids, per tokenizer instance (prompts
// repeat words). Cleared when full rather than evicting one by one.
struct WordCache {
  std::uint64_t owner = 0;  // ByteBpeTokenizer::Impl::instance_id
  std::uint64_t last_use = 0;
  std::unordered_map<std::string, std::pair<std::uint32_t, std::uint32_t>, StringHash, std::equal_to<>> where;
  std::vector<std::int32_t> ids;  // the values, back to back
};
constexpr std::size_t kCacheWords = 1 << 15;
constexpr std::size_t kCacheMaxWordBytes = 64;
constexpr std::size_t kCachesPerThread = 4;

std::atomic<std::uint64_t> next_instance_id{1};

}  // namespace

struct ByteBpeTokenizer::Impl {
  ByteBpeData data;
  PreTokenizer pre = PreTokenizer::gpt2;
  bool ignore_merges = false;  // llama3: a word that is a token is taken whole (HF ignore_merges, llama.cpp)
  std::uint64_t instance_id = 0;
  std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>> token_to_id;
  std::array<std::int32_t, 256> byte_token{};  // id of the one-character token of each byte, -1 if none
  std::unordered_map<std::uint64_t, Merge, PairHash> merges;
  std::vector<std::string> token_bytes;  // what each id decodes to
  std::vector<BpeTokenType> types;
  // Control and user-defined tokens, for matching before the split; by first
  // byte, longest first.
  struct Special {
    std::string text;
    std::int32_t id = 0;
    bool control = false;
  };
  std::array<std::vector<Special>, 256> specials_by_byte;
  bool has_specials = false;
  std::unique_ptr<bpe_detail::PreTokenizerSplitter> splitter;

  WordCache& cache() const;
  void encode_word(std::string_view word, std::vector<std::int32_t>& out) const;
  void bpe(std::string_view word, std::vector<std::int32_t>& out) const;
  void encode_plain(std::string_view text, std::vector<std::int32_t>& out) const;
};

WordCache& ByteBpeTokenizer::Impl::cache() const {
  thread_local std::array<WordCache, kCachesPerThread> caches;
  thread_local std::uint64_t clock = 0;
  ++clock;
  WordCache* oldest = &caches[0];
  for (WordCache& c : caches) {
    if (c.owner == instance_id) {
      c.last_use = clock;
      return c;
    }
    if (c.last_use < oldest->last_use) oldest = &c;
  }
  oldest->owner = instance_id;
  oldest->last_use = clock;
  oldest->where.clear();
  oldest->ids.clear();
  return *oldest;
}

// BPE on one word: start from its bytes' one-character tokens (a byte without
// one is dropped, as HF does: its neighbours become adjacent), then merge the
// adjacent pair of lowest rank, leftmost on ties, until none is left. A heap
// of candidate pairs with lazy invalidation keeps long words O(n log n).
void ByteBpeTokenizer::Impl::bpe(std::string_view word, std::vector<std::int32_t>& out) const {
  struct Symbol {
    std::int32_t id;
    std::int32_t prev;
    std::int32_t next;
  };
  struct Candidate {
    std::int32_t rank;
    std::int32_t left;  // index of the left symbol (symbols keep text order)
    std::int32_t result;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;
  symbols.clear();
  heap.clear();
  for (char c : word) {
    const std::int32_t id = byte_token[static_cast<unsigned char>(c)];
    if (id < 0) continue;
    const auto n = static_cast<std::int32_t>(symbols.size());
    symbols.push_back({id, n - 1, n + 1});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;
  const auto push_pair = [&](std::int32_t left) {
    const std::int32_t right = symbols[left].next;
    if (right < 0) return;
    const auto it = merges.find(pair_key(symbols[left].id, symbols[right].id));
    if (it == merges.end()) return;
    heap.push_back({it->second.rank, left, it->second.result});
    std::push_heap(heap.begin(), heap.end(), std::greater<>{});
  };
  for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(symbols.size()); ++i) push_pair(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.left];
    if (left.id < 0 || left.next < 0) continue;  // merged away
    Symbol& right = symbols[left.next];
    const auto it = merges.find(pair_key(left.id, right.id));
    if (it == merges.end() || it->second.rank != top.rank) continue;  // the pair changed since it was queued
    left.id = top.result;
    const std::int32_t after = right.next;
    right.id = -1;
    left.next = after;
    if (after >= 0) symbols[after].prev = top.left;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.left);
  }
  for (std::int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

void ByteBpeTokenizer::Impl::encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  if (word.size() == 1) {  // most punctuation and every single digit
    const std::int32_t id = byte_token[static_cast<unsigned char>(word[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  WordCache* c = nullptr;
  if (word.size() <= kCacheMaxWordBytes) {
    c = &cache();
    if (const auto it = c->where.find(word); it != c->where.end()) {
      out.insert(out.end(), c->ids.begin() + it->second.first,
                 c->ids.begin() + it->second.first + it->second.second);
      return;
    }
  }
  const std::size_t start = out.size();
  bool done = false;
  if (ignore_merges) {
    std::string text;
    for (char ch : word) text += byte_char_utf8(static_cast<unsigned char>(ch));
    if (const auto it = token_to_id.find(text); it != token_to_id.end()) {
      out.push_back(it->second);
      done = true;
    }
  }
  if (!done) bpe(word, out);
  if (c != nullptr) {
    if (c->where.size() >= kCacheWords) {
      c->where.clear();
      c->ids.clear();
    }
    const auto offset = static_cast<std::uint32_t>(c->ids.size());
    c->ids.insert(c->ids.end(), out.begin() + static_cast<std::ptrdiff_t>(start), out.end());
    c->where.emplace(std::string(word), std::make_pair(offset, static_cast<std::uint32_t>(out.size() - start)));
  }
}

void ByteBpeTokenizer::Impl::encode_plain(std::string_view text, std::vector<std::int32_t>& out) const {
  if (text.empty()) return;
  thread_local std::vector<std::string_view> words;
  words.clear();
  splitter->split(text, words);
  for (std::string_view w : words) encode_word(w, out);
}

ByteBpeTokenizer::ByteBpeTokenizer(ByteBpeData data) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.data = std::move(data);
  const ByteBpeData& d = m.data;
  m.instance_id = next_instance_id.fetch_add(1);
  m.pre = parse_pre_tokenizer(d.pre);
  m.ignore_merges = m.pre == PreTokenizer::llama3;
  PERSONAS_CHECK(!d.tokens.empty(), data, "byte-level BPE: the vocabulary is empty");
  PERSONAS_CHECK(d.tokens.size() < (std::size_t{1} << 31), data, "byte-level BPE: {} tokens is too many",
                 d.tokens.size());
  PERSONAS_CHECK(d.token_types.empty() || d.token_types.size() == d.tokens.size(), data,
                 "byte-level BPE: {} token types for {} tokens", d.token_types.size(), d.tokens.size());
  const auto n = static_cast<std::int32_t>(d.tokens.size());
  m.types.resize(d.tokens.size(), BpeTokenType::normal);
  m.token_bytes.resize(d.tokens.size());
  m.byte_token.fill(-1);
  m.token_to_id.reserve(d.tokens.size());
  std::vector<Impl::Special> specials;
  for (std::int32_t id = 0; id < n; ++id) {
    const std::string& text = d.tokens[id];
    if (!d.token_types.empty()) {
      const std::int32_t t = d.token_types[id];
      // 0 is llama.cpp's "undefined", read as normal.
      PERSONAS_CHECK(t >= 0 && t <= 6, data, "byte-level BPE: token {} ('{}') has unknown type {} (1..6)", id, text, t);
      m.types[id] = t == 0 ? BpeTokenType::normal : static_cast<BpeTokenType>(t);
    }
    const auto [it, inserted] = m.token_to_id.emplace(text, id);
    PERSONAS_CHECK(inserted, data, "byte-level BPE: token '{}' appears twice (ids {} and {})", text, it->second, id);
    const BpeTokenType type = m.types[id];
    if (type == BpeTokenType::control || type == BpeTokenType::user_defined) {
      m.token_bytes[id] = text;  // literal text, as llama.cpp and HF's added tokens
      if (!text.empty()) specials.push_back({text, id, type == BpeTokenType::control});
    } else {
      m.token_bytes[id] = bpe_detail::byte_level_to_bytes(text);
    }
  }
  for (int b = 0; b < 256; ++b) {
    const auto it = m.token_to_id.find(byte_char_utf8(static_cast<std::uint8_t>(b)));
    if (it != m.token_to_id.end() && m.types[it->second] != BpeTokenType::control &&
        m.types[it->second] != BpeTokenType::user_defined) {
      m.byte_token[b] = it->second;
    }
  }
  std::stable_sort(specials.begin(), specials.end(),
                   [](const Impl::Special& a, const Impl::Special& b) { return a.text.size() > b.text.size(); });
  for (Impl::Special& s : specials) {
    m.specials_by_byte[static_cast<unsigned char>(s.text[0])].push_back(std::move(s));
    m.has_specials = true;
  }
  m.merges.reserve(d.merges.size());
  for (std::size_t rank = 0; rank < d.merges.size(); ++rank) {
    const std::string& line = d.merges[rank];
    // "left right": the first space after the first character separates them (as llama.cpp reads it).
    const std::size_t space = line.size() > 1 ? line.find(' ', 1) : std::string::npos;
    PERSONAS_CHECK(space != std::string::npos && space + 1 < line.size(), data,
                   "byte-level BPE: merge {} '{}' is not 'left right'", rank, line);
    const std::string_view left(line.data(), space);
    const std::string_view right(line.data() + space + 1, line.size() - space - 1);
    const auto l = m.token_to_id.find(left);
    const auto r = m.token_to_id.find(right);
    PERSONAS_CHECK(l != m.token_to_id.end(), data, "byte-level BPE: merge {} '{}' names unknown token '{}'", rank,
                   line, left);
    PERSONAS_CHECK(r != m.token_to_id.end(), data, "byte-level BPE: merge {} '{}' names unknown token '{}'", rank,
                   line, right);
    std::string joined;
    joined.reserve(left.size() + right.size());
    joined.append(left).append(right);
    const auto j = m.token_to_id.find(joined);
    PERSONAS_CHECK(j != m.token_to_id.end(), data,
                   "byte-level BPE: merge {} '{}' makes '{}', which is not in the vocabulary", rank, line, joined);
    // A repeated merge keeps its first rank (llama.cpp's bpe_ranks.emplace).
    m.merges.emplace(pair_key(l->second, r->second), Merge{static_cast<std::int32_t>(rank), j->second});
  }
  m.splitter = std::make_unique<bpe_detail::PreTokenizerSplitter>(m.pre);
}

ByteBpeTokenizer::~ByteBpeTokenizer() = default;
ByteBpeTokenizer::ByteBpeTokenizer(ByteBpeTokenizer&&) noexcept = default;
ByteBpeTokenizer& ByteBpeTokenizer::operator=(ByteBpeTokenizer&&) noexcept = default;

std::vector<std::int32_t> ByteBpeTokenizer::encode(std::string_view text, bool parse_special) const {
  const Impl& m = *impl_;
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (!m.has_specials) {
    m.encode_plain(text, out);
    return out;
  }
  // Leftmost-longest match of the control / user-defined tokens (HF's added
  // vocabulary); without parse_special only user-defined ones are matched
  // (control tokens are then plain text), as llama.cpp and HF's
  // split_special_tokens do.
  std::size_t plain_begin = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto& candidates = m.specials_by_byte[static_cast<unsigned char>(text[pos])];
    const Impl::Special* hit = nullptr;
    for (const Impl::Special& s : candidates) {
      if ((parse_special || !s.control) && text.substr(pos, s.text.size()) == s.text) {
        hit = &s;
        break;
      }
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    m.encode_plain(text.substr(plain_begin, pos - plain_begin), out);
    out.push_back(hit->id);
    pos += hit->text.size();
    plain_begin = pos;
  }
  m.encode_plain(text.substr(plain_begin), out);
  return out;
}

std::string ByteBpeTokenizer::decode(std::span<const std::int32_t> ids, bool skip_special) const {
  const Impl& m = *impl_;
  std::string out;
  for (std::int32_t id : ids) {
    PERSONAS_CHECK(id >= 0 && id < vocab_size(), data, "byte-level BPE: token id {} is outside the vocabulary (0..{})",
                   id, vocab_size() - 1);
    if (skip_special && m.types[id] == BpeTokenType::control) continue;
    out += m.token_bytes[id];
  }
  return out;
}

std::string ByteBpeTokenizer::id_to_piece(std::int32_t id) const {
  PERSONAS_CHECK(id >= 0 && id < vocab_size(), data, "byte-level BPE: token id {} is outside the vocabulary (0..{})",
                 id, vocab_size() - 1);
  return impl_->data.tokens[id];
}

std::int32_t ByteBpeTokenizer::piece_to_id(std::string_view piece) const {
  const auto it = impl_->token_to_id.find(piece);
  return it == impl_->token_to_id.end() ? -1 : it->second;
}

std::int32_t ByteBpeTokenizer::vocab_size() const { return static_cast<std::int32_t>(impl_->data.tokens.size()); }

bool ByteBpeTokenizer::is_control(std::int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->types[id] == BpeTokenType::control;
}

BpeTokenType ByteBpeTokenizer::token_type(std::int32_t id) const {
  PERSONAS_CHECK(id >= 0 && id < vocab_size(), data, "byte-level BPE: token id {} is outside the vocabulary (0..{})",
                 id, vocab_size() - 1);
  return impl_->types[id];
}

PreTokenizer ByteBpeTokenizer::pre_tokenizer() const { return impl_->pre; }

const ByteBpeData& ByteBpeTokenizer::data() const { return impl_->data; }

std::string ByteBpeTokenizer::token_bytes(std::int32_t id) const {
  PERSONAS_CHECK(id >= 0 && id < vocab_size(), data, "byte-level BPE: token id {} is outside the vocabulary (0..{})",
                 id, vocab_size() - 1);
  return impl_->token_bytes[id];
}

std::vector<std::string> ByteBpeTokenizer::pre_tokenize(std::string_view text) const {
  std::vector<std::string_view> words;
  impl_->splitter->split(text, words);
  return {words.begin(), words.end()};
}

}  // namespace personas
