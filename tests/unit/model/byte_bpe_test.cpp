// Byte-level BPE (src/model/byte_bpe.h):
//  (a) hand-made vocabularies: the byte map, merge order and ties, special
//      tokens, each pre-tokenizer's splits, dropped bytes, round trips, errors;
//  (b) tiny BPEs trained by Hugging Face tokenizers, one per pre-tokenizer
//      (tests/golden/fixtures/byte_bpe_tiny, no download): their tokenizer.json
//      through byte_bpe_from_hf_json, and HF's ids for every probe;
//  (c) SmolLM2's real vocabulary from the GGUF (skipped without it): every
//      case of tests/golden/fixtures/smollm2_tokenizer_cases.json exact.
// (b) and (c) also run 100 seeded random strings over the tricky characters.
// Fixtures: tools/golden/make_bpe_cases.py.
#include "model/byte_bpe.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/errors.h"
#include "io/gguf.h"
#include "model/byte_unicode.h"
#include "model/pretokenizer.h"
#include "support/test_support.h"

namespace personas {
namespace {

using nlohmann::json;
using Ids = std::vector<std::int32_t>;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Byte-level text of raw bytes ("a b" -> "aĠb").
std::string bl(std::string_view bytes) { return bpe_detail::bytes_to_byte_level(bytes); }

// A hand-made vocabulary: optional control / user-defined tokens first, then
// the one-character token of every byte (except `missing_bytes`), then the
// result of every merge (given as byte strings, "a b" = merge of a and b).
struct TinyVocab {
  std::vector<std::string> controls;
  std::vector<std::string> user_defined;
  std::vector<std::pair<std::string, std::string>> merges;  // raw bytes
  std::vector<std::string> extra_tokens;                    // raw bytes, no merge makes them
  std::string missing_bytes;
  std::string pre = "gpt2";

  ByteBpeData data() const {
    ByteBpeData d;
    d.pre = pre;
    const auto add = [&](std::string token, std::int32_t type) {
      if (std::find(d.tokens.begin(), d.tokens.end(), token) != d.tokens.end()) return;
      d.tokens.push_back(std::move(token));
      d.token_types.push_back(type);
    };
    for (const auto& c : controls) add(c, 3);
    for (const auto& u : user_defined) add(u, 4);
    for (int b = 0; b < 256; ++b) {
      if (missing_bytes.find(static_cast<char>(b)) != std::string::npos) continue;
      add(bl(std::string(1, static_cast<char>(b))), 1);
    }
    for (const auto& [l, r] : merges) {
      d.merges.push_back(bl(l) + " " + bl(r));
      add(bl(l + r), 1);
    }
    for (const auto& t : extra_tokens) add(bl(t), 1);
    return d;
  }
};

// The pieces (byte-level token texts) of an encoding, for readable expectations.
std::vector<std::string> pieces(const ByteBpeTokenizer& tok, const Ids& ids) {
  std::vector<std::string> out;
  for (auto id : ids) out.push_back(tok.id_to_piece(id));
  return out;
}

std::vector<std::string> bls(std::initializer_list<const char*> raw) {
  std::vector<std::string> out;
  for (const char* r : raw) out.push_back(bl(r));
  return out;
}

// ---------------------------------------------------------------- byte map

TEST(ByteBpeByteMap, AllBytesRoundTripAndMatchGpt2) {
  std::set<char32_t> seen;
  char32_t next_shifted = 0x100;
  for (int b = 0; b < 256; ++b) {
    const char32_t cp = byte_to_unicode(static_cast<std::uint8_t>(b));
    EXPECT_EQ(unicode_to_byte(cp), b) << "byte " << b;
    EXPECT_TRUE(seen.insert(cp).second) << "byte " << b << " shares a code point";
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) {
      EXPECT_EQ(cp, static_cast<char32_t>(b));
    } else {
      EXPECT_EQ(cp, next_shifted++) << "byte " << b;  // the 68 others in increasing order
    }
    // Through the UTF-8 helpers too.
    const std::string raw(1, static_cast<char>(b));
    EXPECT_EQ(bpe_detail::byte_level_to_bytes(bl(raw)), raw);
  }
  EXPECT_EQ(next_shifted, char32_t{0x144});
  EXPECT_EQ(byte_to_unicode(' '), char32_t{0x120});   // Ġ
  EXPECT_EQ(byte_to_unicode('\n'), char32_t{0x10A});  // Ċ
  EXPECT_EQ(byte_to_unicode('\t'), char32_t{0x109});  // ĉ
  EXPECT_EQ(bl("Hello world\n"), "HelloĠworldĊ");
  EXPECT_EQ(unicode_to_byte(0x20), -1);  // a space is written Ġ, never itself
  EXPECT_EQ(unicode_to_byte(0x144), -1);
  EXPECT_EQ(unicode_to_byte(0x4E2D), -1);
}

TEST(ByteBpeByteMap, Utf8SequencesAreCheckedStrictly) {
  using bpe_detail::utf8_sequence_length;
  EXPECT_EQ(utf8_sequence_length("a", 0), 1u);
  EXPECT_EQ(utf8_sequence_length("\xC3\xA9", 0), 2u);           // é
  EXPECT_EQ(utf8_sequence_length("\xE2\x80\x9C", 0), 3u);       // “
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x8E\xAC", 0), 4u);   // 🎬
  EXPECT_EQ(utf8_sequence_length("\xC3", 0), 0u);               // truncated
  EXPECT_EQ(utf8_sequence_length("\xC0\xAF", 0), 0u);           // overlong
  EXPECT_EQ(utf8_sequence_length("\xE0\x80\xAF", 0), 0u);       // overlong
  EXPECT_EQ(utf8_sequence_length("\xED\xA0\x80", 0), 0u);       // surrogate
  EXPECT_EQ(utf8_sequence_length("\xF4\x90\x80\x80", 0), 0u);   // above U+10FFFF
  EXPECT_EQ(utf8_sequence_length("\x80", 0), 0u);               // lone continuation
  EXPECT_EQ(utf8_sequence_length("\xFF", 0), 0u);
}

// ------------------------------------------------------------------ merges

TEST(ByteBpeMerges, LowestRankFirst) {
  TinyVocab v;
  v.merges = {{"b", "c"}, {"a", "b"}};
  ByteBpeTokenizer bc_first(v.data());
  EXPECT_EQ(pieces(bc_first, bc_first.encode("abc")), bls({"a", "bc"}));
  v.merges = {{"a", "b"}, {"b", "c"}};
  ByteBpeTokenizer ab_first(v.data());
  EXPECT_EQ(pieces(ab_first, ab_first.encode("abc")), bls({"ab", "c"}));
}

TEST(ByteBpeMerges, TiesGoLeftmostAndMergesChain) {
  TinyVocab v;
  v.merges = {{"a", "a"}};
  ByteBpeTokenizer pairs_only(v.data());
  EXPECT_EQ(pieces(pairs_only, pairs_only.encode("aaa")), bls({"aa", "a"}));  // not a, aa
  EXPECT_EQ(pieces(pairs_only, pairs_only.encode("aaaaa")), bls({"aa", "aa", "a"}));
  v.merges = {{"a", "a"}, {"aa", "aa"}, {"aa", "a"}};
  ByteBpeTokenizer tok(v.data());
  EXPECT_EQ(pieces(tok, tok.encode("aaa")), bls({"aaa"}));
  EXPECT_EQ(pieces(tok, tok.encode("aaaa")), bls({"aaaa"}));
  // a a a a a -> (aa)(aa)a -> (aaaa)a: rank 1 beats rank 2 of (aa)(a).
  EXPECT_EQ(pieces(tok, tok.encode("aaaaa")), bls({"aaaa", "a"}));
  EXPECT_EQ(pieces(tok, tok.encode("aaaaaa")), bls({"aaaa", "aa"}));
}

TEST(ByteBpeMerges, LongWordsAreFastAndExact) {
  TinyVocab v;
  v.merges = {{"a", "a"}, {"aa", "aa"}, {" ", " "}, {"  ", "  "}};
  ByteBpeTokenizer tok(v.data());
  const Ids as = tok.encode(std::string(100001, 'a'));
  ASSERT_EQ(as.size(), 25001u);  // 25,000 x "aaaa" + "a"
  EXPECT_EQ(tok.id_to_piece(as.front()), "aaaa");
  EXPECT_EQ(tok.id_to_piece(as.back()), "a");
  // 200,000 spaces are one pre-token word (\s+(?!\S) at the end of the text).
  const std::string spaces(200000, ' ');
  EXPECT_EQ(tok.pre_tokenize(spaces).size(), 1u);
  const Ids sp = tok.encode(spaces);
  EXPECT_EQ(sp.size(), 50000u);
  EXPECT_EQ(tok.decode(sp, false), spaces);
}

TEST(ByteBpeMerges, Llama3TakesAWordThatIsATokenWhole) {
  // HF's ignore_merges (llama.cpp applies it for llama3): "abc" is a token no
  // merge sequence reaches.
  TinyVocab v;
  v.merges = {{"a", "b"}};
  v.extra_tokens = {"abc"};
  v.pre = "gpt2";
  ByteBpeTokenizer gpt2(v.data());
  EXPECT_EQ(pieces(gpt2, gpt2.encode("abc")), bls({"ab", "c"}));
  v.pre = "llama3";
  ByteBpeTokenizer llama3(v.data());
  EXPECT_EQ(pieces(llama3, llama3.encode("abc")), bls({"abc"}));
  EXPECT_EQ(pieces(llama3, llama3.encode("abcd")), bls({"ab", "c", "d"}));
}

// ----------------------------------------------------------- special tokens

TEST(ByteBpeSpecial, ControlTokensAreMatchedBeforeSplitting) {
  TinyVocab v;
  v.controls = {"<|im_start|>", "<|im_end|>"};
  v.user_defined = {"<tool>"};
  v.merges = {{"u", "s"}, {"us", "e"}, {"use", "r"}};
  ByteBpeTokenizer tok(v.data());
  const std::int32_t start = tok.piece_to_id("<|im_start|>");
  const std::int32_t end = tok.piece_to_id("<|im_end|>");
  const std::int32_t tool = tok.piece_to_id("<tool>");
  ASSERT_EQ(start, 0);
  ASSERT_EQ(end, 1);
  ASSERT_EQ(tool, 2);
  const std::int32_t user = tok.piece_to_id("user");
  const std::int32_t nl = tok.piece_to_id(bl("\n"));
  EXPECT_EQ(tok.encode("<|im_start|>user\n<|im_end|>"), (Ids{start, user, nl, end}));
  EXPECT_EQ(tok.encode("<|im_end|><|im_start|>"), (Ids{end, start}));
  // Text next to a special token is not glued to it ("x<|im_end|>" is x, then the token).
  EXPECT_EQ(pieces(tok, tok.encode("x<|im_end|>y")), (std::vector<std::string>{"x", "<|im_end|>", "y"}));
  // A partial special token is plain text.
  EXPECT_EQ(tok.encode("<|im_end").size(), 8u);
  // Without parse_special control tokens are text; user-defined ones still match.
  const Ids plain = tok.encode("<|im_end|><tool>", false);
  ASSERT_EQ(plain.size(), 11u);  // the 10 bytes of "<|im_end|>" (no merge applies), then <tool>
  EXPECT_EQ(plain.back(), tool);
  EXPECT_EQ(tok.decode(plain, false), "<|im_end|><tool>");
  EXPECT_TRUE(tok.is_control(start));
  EXPECT_FALSE(tok.is_control(tool));
  EXPECT_FALSE(tok.is_control(user));
  EXPECT_FALSE(tok.is_control(-1));
  EXPECT_EQ(tok.token_type(tool), BpeTokenType::user_defined);
}

TEST(ByteBpeSpecial, LeftmostLongestMatch) {
  TinyVocab v;
  v.controls = {"[A]", "[A][B]", "B]["};
  ByteBpeTokenizer tok(v.data());
  const std::int32_t a = tok.piece_to_id("[A]");
  const std::int32_t ab = tok.piece_to_id("[A][B]");
  EXPECT_EQ(tok.encode("[A][B]"), (Ids{ab}));
  EXPECT_EQ(pieces(tok, tok.encode("[A][C]")), (std::vector<std::string>{"[A]", "[", "C", "]"}));
  // Leftmost wins over longer-but-later ("B][" starts after "[A][B]" does).
  EXPECT_EQ(tok.encode("[A][B][A]"), (Ids{ab, a}));
}

TEST(ByteBpeSpecial, DecodeSkipsControlTokensOnRequest) {
  TinyVocab v;
  v.controls = {"<|im_end|>"};
  v.user_defined = {"<tool>"};
  ByteBpeTokenizer tok(v.data());
  const Ids ids = tok.encode("4<|im_end|><tool>\n");
  EXPECT_EQ(tok.decode(ids, false), "4<|im_end|><tool>\n");
  EXPECT_EQ(tok.decode(ids, true), "4<tool>\n");
  EXPECT_EQ(tok.token_bytes(tok.piece_to_id("<|im_end|>")), "<|im_end|>");
  EXPECT_EQ(tok.token_bytes(tok.piece_to_id(bl("\n"))), "\n");
}

// ----------------------------------------------------------- pre-tokenizers

std::vector<std::string> words(const std::string& pre, std::string_view text) {
  TinyVocab v;
  v.pre = pre;
  return ByteBpeTokenizer(v.data()).pre_tokenize(text);
}

using Words = std::vector<std::string>;

// Expected words checked against HF tokenizers' pre_tokenize_str.
TEST(ByteBpePreTokenizer, Gpt2) {
  EXPECT_EQ(words("gpt2", "Hello  world"), (Words{"Hello", " ", " world"}));
  EXPECT_EQ(words("gpt2", "tab\there"), (Words{"tab", "\t", "here"}));
  EXPECT_EQ(words("gpt2", "1993"), (Words{"1993"}));
  EXPECT_EQ(words("gpt2", " 5"), (Words{" 5"}));
  EXPECT_EQ(words("gpt2", "DON'T don't"), (Words{"DON", "'", "T", " don", "'t"}));
  EXPECT_EQ(words("gpt2", "end.\n\nnext"), (Words{"end", ".", "\n", "\n", "next"}));
  EXPECT_EQ(words("gpt2", "a \n\n b"), (Words{"a", " \n\n", " b"}));
  EXPECT_EQ(words("gpt2", "  $x  "), (Words{" ", " $", "x", "  "}));
  EXPECT_EQ(words("gpt2", "\xC3\xA9t\xC3\xA9 2\xC2\xB2"), (Words{"\xC3\xA9t\xC3\xA9", " 2\xC2\xB2"}));
  EXPECT_EQ(words("gpt2", ""), (Words{}));
}

TEST(ByteBpePreTokenizer, SmollmCutsEveryNumberCharacterFirst) {
  EXPECT_EQ(words("smollm", "1993"), (Words{"1", "9", "9", "3"}));
  EXPECT_EQ(words("smollm", " 5"), (Words{" ", "5"}));
  EXPECT_EQ(words("smollm", "4.5"), (Words{"4", ".", "5"}));
  EXPECT_EQ(words("smollm", "abc123def"), (Words{"abc", "1", "2", "3", "def"}));
  EXPECT_EQ(words("smollm", "\xC3\xA9t\xC3\xA9 2\xC2\xB2"), (Words{"\xC3\xA9t\xC3\xA9", " ", "2", "\xC2\xB2"}));
  EXPECT_EQ(words("smollm", "Hello  world"), (Words{"Hello", " ", " world"}));
  EXPECT_EQ(words("smollm", "DON'T don't"), (Words{"DON", "'", "T", " don", "'t"}));
}

TEST(ByteBpePreTokenizer, Llama3) {
  EXPECT_EQ(words("llama3", "1993"), (Words{"199", "3"}));
  EXPECT_EQ(words("llama3", "12345678"), (Words{"123", "456", "78"}));
  EXPECT_EQ(words("llama3", " 5"), (Words{" ", "5"}));
  EXPECT_EQ(words("llama3", "tab\there"), (Words{"tab", "\there"}));
  EXPECT_EQ(words("llama3", "DON'T don't"), (Words{"DON", "'T", " don", "'t"}));
  EXPECT_EQ(words("llama3", "end.\n\nnext"), (Words{"end", ".\n\n", "next"}));
  EXPECT_EQ(words("llama3", "\xC3\xA9t\xC3\xA9 2\xC2\xB2"), (Words{"\xC3\xA9t\xC3\xA9", " ", "2\xC2\xB2"}));
  EXPECT_EQ(words("llama3", "it'\xC5\xBF"), (Words{"it", "'\xC5\xBF"}));  // caseless: ſ folds to s
}

TEST(ByteBpePreTokenizer, Qwen2) {
  EXPECT_EQ(words("qwen2", "1993"), (Words{"1", "9", "9", "3"}));
  EXPECT_EQ(words("qwen2", "tab\there"), (Words{"tab", "\there"}));
  EXPECT_EQ(words("qwen2", "DON'T"), (Words{"DON", "'T"}));
  EXPECT_EQ(words("qwen2", "end.\n\nnext"), (Words{"end", ".\n\n", "next"}));
  EXPECT_EQ(words("qwen2", "\xC3\xA9t\xC3\xA9 2\xC2\xB2"), (Words{"\xC3\xA9t\xC3\xA9", " ", "2", "\xC2\xB2"}));
}

TEST(ByteBpePreTokenizer, WhiteSpaceIsTheUnicodeProperty) {
  // U+0085 is White_Space; U+180E (PCRE2's own \s has it) and U+001C are not.
  for (const char* pre : {"gpt2", "smollm", "llama3", "qwen2"}) {
    EXPECT_EQ(words(pre, "x\xE1\xA0\x8E! x\xC2\x85!"), (Words{"x", "\xE1\xA0\x8E!", " x", "\xC2\x85", "!"})) << pre;
    EXPECT_EQ(words(pre, "x\x1c!"), (Words{"x", "\x1c!"})) << pre;
  }
}

TEST(ByteBpePreTokenizer, MalformedUtf8BytesAreWordsOfTheirOwn) {
  EXPECT_EQ(words("gpt2", "ab\xFF" "cd"), (Words{"ab", "\xFF", "cd"}));
  EXPECT_EQ(words("smollm", "\xC3 1\xC3\xA9"), (Words{"\xC3", " ", "1", "\xC3\xA9"}));
}

TEST(ByteBpePreTokenizer, LongRunsSplitInOnePassWithTheJit) {
  for (PreTokenizer pre : {PreTokenizer::gpt2, PreTokenizer::smollm, PreTokenizer::llama3, PreTokenizer::qwen2}) {
    const bpe_detail::PreTokenizerSplitter splitter(pre);
    if (bpe_detail::pcre2_jit_available()) {
      EXPECT_TRUE(splitter.jit()) << pre_tokenizer_name(pre);
    }
    // Runs of 100,000 spaces, newlines and punctuation: no JIT stack overflow, nothing lost.
    const std::string text = std::string(100000, ' ') + "x" + std::string(100000, '\n') + std::string(100000, '!') +
                             std::string(100000, ' ');
    std::vector<std::string_view> out;
    splitter.split(text, out);
    std::string joined;
    for (auto w : out) joined += w;
    EXPECT_EQ(joined, text) << pre_tokenizer_name(pre);
    EXPECT_LE(out.size(), 8u) << pre_tokenizer_name(pre);
  }
}

TEST(ByteBpePreTokenizer, UnknownNamesAreDataErrors) {
  EXPECT_EQ(parse_pre_tokenizer("llama-bpe"), PreTokenizer::llama3);
  EXPECT_EQ(parse_pre_tokenizer("smollm"), PreTokenizer::smollm);
  try {
    parse_pre_tokenizer("deepseek-llm");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data);
    EXPECT_NE(e.message().find("deepseek-llm"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("qwen2"), std::string::npos) << e.message();
  }
}

// ------------------------------------------------------ bytes and round trips

TEST(ByteBpeBytes, BytesWithoutATokenAreDropped) {
  TinyVocab v;
  v.missing_bytes = std::string("\x04\xC0", 2);
  v.merges = {{".", "."}};
  ByteBpeTokenizer tok(v.data());
  EXPECT_EQ(pieces(tok, tok.encode("a\x04" "b")), bls({"a", "b"}));
  // Inside one word the neighbours become adjacent and merge (HF's BPE drops the byte before merging).
  EXPECT_EQ(pieces(tok, tok.encode(".\x04.")), bls({".."}));
  EXPECT_EQ(pieces(tok, tok.encode("x\xC0y")), bls({"x", "y"}));  // not UTF-8 and no token
  EXPECT_EQ(tok.encode(std::string_view("\x04", 1)), Ids{});
}

TEST(ByteBpeBytes, DecodeRoundTripsRandomBytes) {
  std::mt19937 rng(20);
  for (const char* pre : {"gpt2", "smollm", "llama3", "qwen2"}) {
    TinyVocab v;
    v.pre = pre;
    v.controls = {"<|im_end|>"};
    v.merges = {{" ", "t"}, {" t", "h"}, {"e", " "}, {"\xC3", "\xA9"}, {"1", "2"}, {"\n", "\n"}};
    ByteBpeTokenizer tok(v.data());
    std::string alphabet("ab th e\n\t1234.,'!\xC3\xA9\xE2\x80\x9C");
    alphabet += '\0';
    for (int trial = 0; trial < 200; ++trial) {
      std::string text;
      const int len = static_cast<int>(rng() % 40);
      for (int i = 0; i < len; ++i) {
        text += rng() % 8 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
      }
      const Ids ids = tok.encode(text, false);  // "<|im_end|>" cannot occur here anyway
      ASSERT_EQ(tok.decode(ids, false), text) << pre << " trial " << trial;
      std::string joined;
      for (auto id : ids) joined += tok.token_bytes(id);
      EXPECT_EQ(joined, text);
    }
  }
}

TEST(ByteBpeBytes, PiecesAndIds) {
  TinyVocab v;
  v.merges = {{" ", "w"}};
  ByteBpeTokenizer tok(v.data());
  EXPECT_EQ(tok.vocab_size(), 257);
  EXPECT_EQ(tok.id_to_piece(tok.piece_to_id("Ġw")), "Ġw");
  EXPECT_EQ(tok.token_bytes(tok.piece_to_id("Ġw")), " w");
  EXPECT_EQ(tok.piece_to_id("nope"), -1);
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizer::gpt2);
  EXPECT_EQ(tok.data().merges.size(), 1u);
  const Ids bad{0, 257};
  EXPECT_THROW(tok.decode(bad, false), Error);
  EXPECT_THROW(tok.id_to_piece(-1), Error);
  EXPECT_THROW(tok.token_bytes(257), Error);
}

TEST(ByteBpeBytes, ConcurrentEncodesAgree) {
  TinyVocab v;
  v.merges = {{" ", "t"}, {" t", "h"}, {" th", "e"}, {"e", "r"}};
  ByteBpeTokenizer tok(v.data());
  std::string text;
  for (int i = 0; i < 2000; ++i) text += " the other there " + std::to_string(i);
  const Ids expected = tok.encode(text);
  std::vector<Ids> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < 3; ++r) got[t] = tok.encode(text);
    });
  }
  for (auto& th : threads) th.join();
  for (const Ids& g : got) EXPECT_EQ(g, expected);
}

TEST(ByteBpeBytes, CachesOfTwoTokenizersDoNotMix) {
  TinyVocab v;
  v.merges = {{"a", "b"}};
  ByteBpeTokenizer first(v.data());
  v.merges = {{"b", "c"}};
  ByteBpeTokenizer second(v.data());
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(pieces(first, first.encode("abc")), bls({"ab", "c"}));
    EXPECT_EQ(pieces(second, second.encode("abc")), bls({"a", "bc"}));
  }
}

// ------------------------------------------------------------------ errors

void expect_data_error(const ByteBpeData& d, const std::string& fragment) {
  try {
    ByteBpeTokenizer tok(d);
    FAIL() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::data) << e.message();
    EXPECT_NE(e.message().find(fragment), std::string::npos) << e.message();
  }
}

TEST(ByteBpeErrors, BadDataIsRefusedWithTheReason) {
  TinyVocab v;
  v.merges = {{"a", "b"}};
  const ByteBpeData good = v.data();
  ByteBpeData d;
  expect_data_error(d, "empty");
  d = good;
  d.tokens.push_back("a");
  d.token_types.push_back(1);
  expect_data_error(d, "'a' appears twice");
  d = good;
  d.merges.push_back("a zz");
  expect_data_error(d, "unknown token 'zz'");
  d = good;
  d.merges.push_back("b a");  // "ba" is not a token
  expect_data_error(d, "'ba', which is not in the vocabulary");
  d = good;
  d.merges.push_back("ab");
  expect_data_error(d, "is not 'left right'");
  d = good;
  d.token_types.pop_back();
  expect_data_error(d, "token types for");
  d = good;
  d.token_types[3] = 9;
  expect_data_error(d, "unknown type 9");
  d = good;
  d.pre = "falcon";
  expect_data_error(d, "falcon");
}

// ------------------------------------- tiny HF-trained tokenizers (no download)

fs::path tiny_dir() { return testing::source_dir() / "tests" / "golden" / "fixtures" / "byte_bpe_tiny"; }

void expect_cases(const ByteBpeTokenizer& tok, const json& cases, const std::string& label) {
  for (const json& c : cases) {
    const std::string name = c.at("name").get<std::string>();
    const std::string text = c.at("text").get<std::string>();
    const Ids want = c.at("ids").get<Ids>();
    const Ids got = tok.encode(text);
    EXPECT_EQ(got, want) << label << " case " << name << " text " << c["text"].dump();
    if (got != want) continue;
    if (c.contains("pieces")) {
      EXPECT_EQ(pieces(tok, got), c["pieces"].get<std::vector<std::string>>()) << label << " case " << name;
    }
    const std::string decoded = c.contains("decoded") ? c["decoded"].get<std::string>() : text;
    EXPECT_EQ(tok.decode(got, false), decoded) << label << " case " << name;
  }
}

TEST(ByteBpeHf, TinyTrainedTokenizersMatchHuggingFace) {
  const json all = json::parse(read_text(tiny_dir() / "cases.json"));
  for (const char* pre : {"gpt2", "smollm", "llama3", "qwen2"}) {
    SCOPED_TRACE(pre);
    const fs::path path = tiny_dir() / (std::string(pre) + "_tokenizer.json");
    const ByteBpeData d = byte_bpe_from_hf_json(read_text(path), path.string());
    EXPECT_EQ(d.pre, pre);  // guessed from the pre_tokenizer structure
    ASSERT_EQ(d.tokens.size(), 422u);
    EXPECT_EQ(d.token_types[0], 3);      // <|endoftext|>, special
    EXPECT_EQ(d.token_types[420], 4);    // <tool>, not special
    EXPECT_EQ(d.tokens[420], "<tool>");
    const ByteBpeTokenizer tok(d);
    const json& cases = all.at("cases").at(pre);
    ASSERT_GE(cases.size(), 14u);
    expect_cases(tok, cases, pre);
    ASSERT_GE(all.at("fuzz_cases").at(pre).size(), 100u);
    expect_cases(tok, all["fuzz_cases"][pre], std::string(pre) + " fuzz");
    // HF's pre-tokenizer words (byte-level) equal ours mapped.
    for (const json& c : cases) {
      if (!c.contains("byte_level_words")) continue;
      std::vector<std::string> ours;
      for (const std::string& w : tok.pre_tokenize(c.at("text").get<std::string>())) ours.push_back(bl(w));
      EXPECT_EQ(ours, c["byte_level_words"].get<std::vector<std::string>>()) << "case " << c["name"];
    }
  }
}

TEST(ByteBpeHf, ExplicitPreAndBadFiles) {
  const std::string text = read_text(tiny_dir() / "gpt2_tokenizer.json");
  EXPECT_EQ(byte_bpe_from_hf_json(text, "x.json", "qwen2").pre, "qwen2");
  const auto expect_error = [](const std::string& json_text, const std::string& fragment, const std::string& pre = {}) {
    try {
      byte_bpe_from_hf_json(json_text, "bad.json", pre);
      FAIL() << "no error; expected one mentioning '" << fragment << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::data) << e.message();
      EXPECT_NE(e.message().find("bad.json"), std::string::npos) << e.message();
      EXPECT_NE(e.message().find(fragment), std::string::npos) << e.message();
    }
  };
  expect_error("{", "not JSON");
  expect_error(R"({"model": {"type": "WordPiece"}})", "model.type is 'WordPiece'");
  json j = json::parse(text);
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error(j.dump(), "none of the known");
  j = json::parse(text);
  j["pre_tokenizer"]["add_prefix_space"] = true;
  expect_error(j.dump(), "none of the known");
  j = json::parse(text);
  j["model"]["ignore_merges"] = true;
  expect_error(j.dump(), "ignore_merges");
  j = json::parse(text);
  j["model"]["merges"][0] = json::array({"a"});
  expect_error(j.dump(), "model.merges[0]");
  j = json::parse(text);
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error(j.dump(), "normalizer 'Lowercase'");
  j = json::parse(text);
  j["added_tokens"][0]["content"] = "<|other|>";
  expect_error(j.dump(), "added_tokens[0]");
  expect_error(text, "falcon", "falcon");
  // Merges as "a b" strings (older files) read the same as [a, b] pairs.
  j = json::parse(text);
  for (json& m : j["model"]["merges"]) m = m[0].get<std::string>() + " " + m[1].get<std::string>();
  EXPECT_EQ(byte_bpe_from_hf_json(j.dump(), "strings.json").merges, byte_bpe_from_hf_json(text, "pairs.json").merges);
  // Ids missing from the file become unused [PADn] tokens.
  j = json::parse(text);
  j["added_tokens"][4]["id"] = 430;
  const ByteBpeData holes = byte_bpe_from_hf_json(j.dump(), "holes.json");
  ASSERT_EQ(holes.tokens.size(), 431u);
  EXPECT_EQ(holes.tokens[425], "[PAD425]");
  EXPECT_EQ(holes.token_types[425], 5);
  EXPECT_EQ(holes.tokens[430], "</tool>");
}

// ------------------------------------------------ SmolLM2's real vocabulary

std::optional<fs::path> smollm2_gguf() {
  return testing::cached_model("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
}

ByteBpeData gguf_bpe_data(const fs::path& path) {
  const gguf::File f = gguf::File::open(path);
  ByteBpeData d;
  d.tokens = f.get_string_array("tokenizer.ggml.tokens");
  d.merges = f.get_string_array("tokenizer.ggml.merges");
  for (std::int64_t t : f.get_int_array("tokenizer.ggml.token_type")) d.token_types.push_back(static_cast<std::int32_t>(t));
  d.pre = f.get_string("tokenizer.ggml.pre");
  return d;
}

TEST(ByteBpeSmolLM2, GoldenCasesMatchHuggingFace) {
  const auto path = smollm2_gguf();
  if (!path) GTEST_SKIP() << "SmolLM2 GGUF not found under $PERSONAS_CACHE/models/smollm2 (default ~/.cache/personas): "
                             "run scripts/fetch-model.sh smollm2";
  const ByteBpeTokenizer tok(gguf_bpe_data(*path));
  const json golden =
      json::parse(read_text(testing::source_dir() / "tests" / "golden" / "fixtures" / "smollm2_tokenizer_cases.json"));
  EXPECT_EQ(tok.vocab_size(), golden.at("vocab_size").get<int>());
  EXPECT_EQ(static_cast<int>(tok.data().merges.size()), golden.at("n_merges").get<int>());
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizer::smollm);
  const json& cases = golden.at("cases");
  ASSERT_GE(cases.size(), 60u);
  expect_cases(tok, cases, "smollm2");
  expect_cases(tok, golden.at("fuzz_cases"), "smollm2 fuzz");
  // PRETRAINED-BASE.md §2.5 / §2.6, independently of the fixture.
  EXPECT_EQ(tok.encode("1993"), (Ids{33, 41, 41, 35}));
  EXPECT_EQ(tok.encode("4.5"), (Ids{36, 30, 37}));
  EXPECT_EQ(tok.encode("The capital of France is Paris.<|im_end|>"), (Ids{504, 3575, 282, 4649, 314, 7042, 30, 2}));
  EXPECT_EQ(tok.encode("<|im_start|>"), (Ids{1}));
  EXPECT_EQ(tok.encode("<|im_start|>", false).size(), 7u);  // as text: 7 ordinary tokens
  for (int id = 0; id < 17; ++id) EXPECT_TRUE(tok.is_control(id)) << id;
  EXPECT_FALSE(tok.is_control(17));
  const Ids answer = tok.encode("4<|im_end|>\n");
  EXPECT_EQ(tok.decode(answer, true), "4\n");
}

}  // namespace
}  // namespace personas
