// The pre-tokenizers of byte-level BPE: regexes (PCRE2, UTF + UCP, JIT) that
// cut text into words before BPE. Each PreTokenizer is a list of stages; a
// stage splits every piece of the previous stage into its regex matches and
// the (non-empty) text between them, in order, as HF's Split(Isolated) and
// llama.cpp's unicode_regex_split do.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/byte_bpe.h"

namespace personas::bpe_detail {

// One compiled pattern. Thread-safe: matching uses thread_local match data.
class Pcre2Regex {
 public:
  // ErrorKind::internal when the pattern does not compile (a bug: patterns are ours).
  explicit Pcre2Regex(const std::string& pattern);
  ~Pcre2Regex();
  Pcre2Regex(const Pcre2Regex&) = delete;
  Pcre2Regex& operator=(const Pcre2Regex&) = delete;

  // Appends the pieces of `text` (well-formed UTF-8) to `out`: every match and
  // every non-empty gap between matches, as views into `text`.
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  bool jit() const { return jit_; }
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

// The regex stages of one pre-tokenizer (PRETRAINED-BASE.md §2.5, §4.1):
//   gpt2   : 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   smollm : \p{N} (every number character alone), then gpt2
//   llama3 : (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//             ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2  : as llama3 with \p{N} instead of \p{N}{1,3}
// \s is Unicode White_Space (as in HF tokenizers and llama.cpp; PCRE2's own
// \s would also take U+180E), so the patterns spell it out as a class.
std::vector<std::string> pre_tokenizer_patterns(PreTokenizer pre);

// Whether the PCRE2 library was built with its JIT (Debian's is).
bool pcre2_jit_available();

class PreTokenizerSplitter {
 public:
  explicit PreTokenizerSplitter(PreTokenizer pre);
  // Appends the words of `text` to `out` (views into `text`). Bytes that are
  // not well-formed UTF-8 become one-byte words of their own; each
  // well-formed run goes through the stages.
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  bool jit() const;

 private:
  std::vector<std::unique_ptr<Pcre2Regex>> stages_;
};

}  // namespace personas::bpe_detail
