// Text <-> token ids, for two tokenizer kinds behind one class:
//  * sentencepiece: a SentencePiece model (Phi-3's tokenizer.model, llama2.c's
//    tok512.model, or one trained here for the quickstart) plus "added tokens"
//    (Phi-3's <|endoftext|>, <|user|>, ... ids 32000-32010) that are matched as
//    whole strings before SentencePiece sees the text. Encoding follows Hugging
//    Face's Phi-3 tokenizer.json: the text is split at added tokens; each
//    remaining piece is encoded by SentencePiece (which prepends "▁" to it,
//    like HF's Prepend normalizer); an added token with rstrip=true swallows
//    the whitespace to its right (HF semantics).
//  * byte_bpe: GPT-2-style byte-level BPE (SmolLM2, Llama 3, Qwen2; see
//    model/byte_bpe.h), its control tokens matched before splitting.
// Both carry a chat template (model/chat_template.h). No BOS is added unless asked.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/fs.h"
#include "model/byte_bpe.h"
#include "model/chat_template.h"

namespace personas {

struct AddedToken {
  std::int32_t id = 0;
  std::string content;   // e.g. "<|user|>"
  bool lstrip = false;   // swallows whitespace on its left
  bool rstrip = false;   // swallows whitespace on its right
  bool special = true;   // skipped by decode(skip_special = true)
};

enum class TokenizerKind { sentencepiece, byte_bpe };
const char* tokenizer_kind_name(TokenizerKind k);  // "sentencepiece", "byte_bpe"
TokenizerKind parse_tokenizer_kind(const std::string& name, const std::string& where);  // ErrorKind::data

// Everything a checkpoint stores about its tokenizer (docs/formats.md).
struct TokenizerData {
  TokenizerKind kind = TokenizerKind::sentencepiece;
  std::string model_bytes;                 // sentencepiece: serialized ModelProto
  ByteBpeData bpe;                         // byte_bpe: vocabulary, types, merges, pre-tokenizer
  std::vector<AddedToken> added_tokens;    // sentencepiece: matched before SentencePiece (byte_bpe: token types)
  ChatTemplate chat_template = ChatTemplate::none;
  std::string chat_default_system;         // chatml: the system message inserted when a chat has none
  std::int32_t bos_id = 1;
  std::int32_t eos_id = 2;
  std::int32_t pad_id = -1;                // -1 = none
  bool add_bos = true;                     // whether plain (non-chat) prompts start with BOS

  bool empty() const { return kind == TokenizerKind::sentencepiece ? model_bytes.empty() : bpe.tokens.empty(); }
};

// model.chat_template: a non-empty `name` replaces the checkpoint's template
// (ErrorKind::config naming the key when unknown); empty keeps it.
void override_chat_template(TokenizerData& data, const std::string& name);

// Phi-3's added tokens (ids 32000..32010, flags as in its tokenizer.json),
// the phi3 chat template, bos 1, eos 32000 (<|endoftext|>), pad 32000.
TokenizerData phi3_tokenizer_data(std::string model_bytes);
// A plain SentencePiece model (llama2.c's tok512): no added tokens, no chat
// template; bos/eos from the model.
TokenizerData plain_tokenizer_data(std::string model_bytes);
// A model from train_sentencepiece(): its user-defined symbols <|endoftext|>,
// <|system|>, <|user|>, <|assistant|>, <|end|> become the added tokens (flags
// as Phi-3's), with the phi3 chat template and eos = <|endoftext|>.
TokenizerData trained_tokenizer_data(std::string model_bytes);

// The added tokens a SentencePiece .model file gets. The file carries none
// itself (Phi-3's <|user|>, <|end|>, ... live in its tokenizer.json), so
// Phi-3's are given only when asked for, never guessed from the vocabulary
// size: auto = our chat symbols when the model has them all (a model from
// train_sentencepiece), else none.
enum class SentencePieceAdded { auto_detect, phi3, chat, none };
// {"auto", auto_detect}, {"phi3", phi3}, {"chat", chat}, {"none", none}: the
// words of model.tokenizer_added and of init-model --tokenizer-added.
const std::vector<std::pair<std::string, SentencePieceAdded>>& sentencepiece_added_names();
// The tokenizer of a .model file with `added`'s tokens; ErrorKind::data naming
// the file when it does not parse or lacks the chat symbols `chat` asks for.
TokenizerData tokenizer_data_from_model_file(const fs::path& path, SentencePieceAdded added);

class Tokenizer {
 public:
  explicit Tokenizer(TokenizerData data);   // ErrorKind::data when the model does not parse
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // `path` is a SentencePiece .model file; `phi3` adds Phi-3's added tokens and template.
  static Tokenizer from_model_file(const fs::path& path, bool phi3);

  // How encode() may reuse earlier work: `cached` looks up the thread's
  // recent segments and (where encodes_word_by_word()) words, which gives
  // the same ids as `direct`, SentencePiece on each whole segment; tests
  // compare the two.
  enum class WordLookup { cached, direct };
  std::vector<std::int32_t> encode(std::string_view text, bool add_bos = false,
                                   WordLookup lookup = WordLookup::cached) const;
  // Whether the model allows encoding plain text word by word (a BPE model
  // whose pieces never cross a word start, identity normalizer, dummy prefix).
  bool encodes_word_by_word() const;
  // Ids of added tokens decode to their content unless skip_special and the token is special.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special = true) const;
  // The raw piece of one id ("▁Hello", "<0x0A>", "<|user|>"; byte_bpe: "Ġworld").
  std::string id_to_piece(std::int32_t id) const;
  // The id of a piece or added token; -1 when unknown.
  std::int32_t piece_to_id(std::string_view piece) const;
  // Whether id_to_piece(id) has an answer: a piece or an added token (ids
  // below vocab_size() may be gaps between the pieces and the added tokens).
  bool has_id(std::int32_t id) const;

  // Whether `id` is a SentencePiece byte-fallback piece (<0x0A> ...).
  bool is_byte(std::int32_t id) const;

  // SentencePiece pieces plus added tokens: max id + 1.
  std::int32_t vocab_size() const;
  std::int32_t bos_id() const { return data_.bos_id; }
  std::int32_t eos_id() const { return data_.eos_id; }
  std::int32_t pad_id() const { return data_.pad_id; }
  TokenizerKind kind() const { return data_.kind; }
  // Whether plain prompts start with BOS (SentencePiece llama-style: yes; SmolLM2: no).
  bool adds_bos() const { return data_.add_bos; }
  // Tokens that end generation: eos, the template's end-of-turn tokens, and
  // <|endoftext|> when present.
  std::vector<std::int32_t> stop_ids() const;

  // Renders messages with the chat template (model/chat_template.h); with
  // add_generation_prompt the text ends where the assistant's answer begins.
  // ErrorKind::data when the tokenizer has no template or a role is unknown.
  std::string apply_chat_template(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

  const TokenizerData& data() const { return data_; }

 private:
  void encode_words(std::string_view text, std::vector<std::int32_t>& out) const;

  struct Impl;
  TokenizerData data_;
  std::unique_ptr<Impl> impl_;
};

// Streams text during generation: push() returns the text that the new id
// completes (decoding the whole sequence and holding back an incomplete UTF-8
// tail or a pending byte-fallback sequence), so printing pieces one by one
// gives exactly decode(all ids).
class TokenStreamer {
 public:
  explicit TokenStreamer(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  std::string push(std::int32_t id);
  std::string finish();  // whatever is still held back

 private:
  const Tokenizer& tokenizer_;
  std::vector<std::int32_t> ids_;
  std::size_t emitted_ = 0;
};

// Trains a small SentencePiece BPE model (byte fallback, so any text encodes;
// the chat tokens above as user-defined symbols) on a UTF-8 text corpus, one
// sentence per line, deterministically; returns the model bytes. Used by
// `init-model --tokenizer-corpus` so the quickstart needs no download.
struct SentencePieceTrainOptions {
  int vocab_size = 1000;
  std::string model_type = "bpe";
  int max_sentence_length = 4192;
  std::int64_t input_sentence_size = 200000;  // lines sampled (0 = all)
  int num_threads = 1;
};
std::string train_sentencepiece(const fs::path& corpus, const SentencePieceTrainOptions& options);

}  // namespace personas
