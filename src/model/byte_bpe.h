// Byte-level BPE (the GPT-2 family: SmolLM2, Llama 3, Qwen2), as a GGUF
// file (tokenizer.ggml.model = "gpt2") or a Hugging Face tokenizer.json of
// model type BPE with a ByteLevel pre-tokenizer describes it.
//
// Encoding (docs: PRETRAINED-BASE.md §2.5, checked against HF tokenizers and
// llama.cpp):
//  1. control and user-defined tokens (types 3 and 4) are matched as whole
//     strings first, longest first (llama.cpp parse_special=true, HF special
//     added tokens); BPE sees only the text between them;
//  2. no normalizer, no prefix space, no BOS;
//  3. the pre-tokenizer's regexes (per PreTokenizer) split the text into
//     words; text between regex matches is kept as a word of its own;
//  4. each word's UTF-8 bytes are mapped through GPT-2's bytes_to_unicode;
//  5. BPE: merge the adjacent pair of lowest merge rank (leftmost on ties)
//     until none is left (llama3 first takes a word that is a token whole:
//     HF's ignore_merges). A byte with no token is dropped before merging, as
//     HF does, so its neighbours in the word may merge: ".\x04." is ".." with
//     SmolLM2 (llama.cpp's code, as read, keeps them apart: ".", ".").
// Decoding maps each token's characters back to bytes; the result may end in
// the middle of a UTF-8 character.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace personas {

// GGUF tokenizer.ggml.token_type values.
enum class BpeTokenType : std::int32_t {
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

// What a checkpoint stores for a byte-level BPE tokenizer (GGUF
// tokenizer.ggml.* or HF tokenizer.json of type BPE).
struct ByteBpeData {
  // id -> token text in GPT-2's byte-to-unicode alphabet ("Ġworld"), as GGUF
  // tokenizer.ggml.tokens. Control / user-defined tokens hold their literal
  // text ("<|im_start|>").
  std::vector<std::string> tokens;
  // GGUF token_type per id (BpeTokenType values); empty = all normal.
  std::vector<std::int32_t> token_types;
  // "Ġ t" lines (two tokens separated by one space); rank = index.
  std::vector<std::string> merges;
  // Pre-tokenizer name as GGUF tokenizer.ggml.pre (see parse_pre_tokenizer).
  std::string pre = "gpt2";
};

enum class PreTokenizer { gpt2, smollm, llama3, qwen2 };
// Accepts "gpt2", "smollm", "llama3" / "llama-bpe", "qwen2"; ErrorKind::data
// naming the value and listing the known ones otherwise.
PreTokenizer parse_pre_tokenizer(const std::string& name);
const char* pre_tokenizer_name(PreTokenizer pre);

// GPT-2's bytes_to_unicode: the code point byte b is written as in token
// text (printable bytes map to themselves, the 68 others to U+0100..U+0143).
char32_t byte_to_unicode(std::uint8_t b);
// The inverse; -1 when `cp` is not in the table.
int unicode_to_byte(char32_t cp);

class ByteBpeTokenizer {
 public:
  // ErrorKind::data on an empty vocabulary, a duplicate token, token_types of
  // the wrong length or an unknown type, a malformed merge line, one naming
  // an unknown token or making one that is not in the vocabulary, or an
  // unknown pre-tokenizer. A repeated merge keeps its first rank.
  explicit ByteBpeTokenizer(ByteBpeData data);
  ~ByteBpeTokenizer();
  ByteBpeTokenizer(ByteBpeTokenizer&&) noexcept;
  ByteBpeTokenizer& operator=(ByteBpeTokenizer&&) noexcept;

  // Control and user-defined tokens (types 3 and 4) are matched as whole
  // strings before splitting, leftmost-longest (HF's added vocabulary). With
  // parse_special = false control tokens are encoded as plain text while
  // user-defined ones are still matched (llama.cpp, HF split_special_tokens).
  // Text that is not UTF-8 is encoded byte by byte (each bad byte is a word
  // of its own). Thread-safe: scratch space and a bounded word -> ids cache
  // (32k words, up to 64 bytes each, 4 tokenizers per thread) are thread_local.
  std::vector<std::int32_t> encode(std::string_view utf8_text, bool parse_special = true) const;
  // Bytes of the ids concatenated (may end mid-UTF-8); control tokens are
  // skipped when skip_special. An id out of range is ErrorKind::data.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special) const;
  // Raw token text ("Ġworld", "<|im_end|>"); ErrorKind::data when out of range.
  std::string id_to_piece(std::int32_t id) const;
  // -1 when unknown.
  std::int32_t piece_to_id(std::string_view piece) const;
  std::int32_t vocab_size() const;
  bool is_control(std::int32_t id) const;
  BpeTokenType token_type(std::int32_t id) const;
  PreTokenizer pre_tokenizer() const;
  const ByteBpeData& data() const;
  // Bytes the given id decodes to (for a streaming decoder that holds back
  // incomplete UTF-8): the byte-mapped text for normal tokens, the literal
  // text for control / user-defined ones.
  std::string token_bytes(std::int32_t id) const;

  // The pre-tokenizer's words of a text with no special tokens in it, as
  // UTF-8 (before the byte map): for tests and diagnostics.
  std::vector<std::string> pre_tokenize(std::string_view utf8_text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Builds ByteBpeData from a Hugging Face tokenizer.json whose model.type is
// "BPE" with a ByteLevel pre-tokenizer: model.vocab, model.merges (as "a b"
// strings or [a, b] pairs), added_tokens (special -> type 3 control, others
// -> 4 user-defined; their lstrip / rstrip / single_word flags are not
// applied; ids the file skips become unused "[PADn]" tokens, type 5). `pre`
// names the pre-tokenizer; empty = guessed from the
// exact pre_tokenizer JSON structure only (Sequence[Digits(individual),
// ByteLevel] = smollm, ByteLevel alone = gpt2, the Split regexes of llama3 /
// qwen2 + ByteLevel), never from the vocabulary. ErrorKind::data naming
// `where` and the field otherwise.
ByteBpeData byte_bpe_from_hf_json(const std::string& json_text, const std::string& where,
                                  const std::string& pre = {});

}  // namespace personas
