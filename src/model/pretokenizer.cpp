#include "model/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/errors.h"
#include "model/byte_unicode.h"

namespace personas::bpe_detail {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(code, buffer, sizeof buffer);
  return n < 0 ? fmt::format("PCRE2 error {}", code) : std::string(reinterpret_cast<const char*>(buffer));
}

// Per-thread match data (one ovector pair: the patterns have no captures),
// match context and a JIT stack large enough for long whitespace runs.
struct MatchScratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  MatchScratch() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    PERSONAS_CHECK(data && context && stack, internal, "PCRE2: out of memory for match data");
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~MatchScratch() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
};

MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}

// Unicode White_Space, the members of a character class.
constexpr const char* kSpace = R"(\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

std::string gpt2_pattern() {
  const std::string s = std::string("[") + kSpace + "]";
  const std::string not_s = std::string("[^") + kSpace + "]";
  return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^)" + std::string(kSpace) + R"(\p{L}\p{N}]+|)" + s + "+(?!" +
         not_s + ")|" + s + "+";
}

std::string llama3_style_pattern(const char* numbers) {
  const std::string s = std::string("[") + kSpace + "]";
  const std::string not_s = std::string("[^") + kSpace + "]";
  return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|)" + std::string(numbers) + R"(| ?[^)" +
         std::string(kSpace) + R"(\p{L}\p{N}]+[\r\n]*|)" + s + R"(*[\r\n]+|)" + s + "+(?!" + not_s + ")|" + s + "+";
}

}  // namespace

Pcre2Regex::Pcre2Regex(const std::string& pattern) : pattern_(pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  PERSONAS_CHECK(code != nullptr, internal, "pre-tokenizer regex does not compile at offset {}: {} ({})", offset,
                 pcre2_message(error), pattern);
  code_ = code;
  // JIT when the library has it; the interpreter gives the same matches.
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Pcre2Regex::~Pcre2Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Pcre2Regex::split(std::string_view text, std::vector<std::string_view>& out) const {
  auto* code = static_cast<const pcre2_code*>(code_);
  MatchScratch& s = scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const PCRE2_SIZE n = text.size();
  PCRE2_SIZE pos = 0;   // where the next search starts
  PCRE2_SIZE kept = 0;  // end of what is already in `out`
  while (pos < n) {
    const int rc = jit_ ? pcre2_jit_match(code, subject, n, pos, 0, s.data, s.context)
                        : pcre2_match(code, subject, n, pos, PCRE2_NO_UTF_CHECK, s.data, s.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    PERSONAS_CHECK(rc >= 0, data, "pre-tokenizer regex failed on a piece of {} bytes: {}", n, pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.data);
    const PCRE2_SIZE begin = ov[0];
    const PCRE2_SIZE end = ov[1];
    if (end == begin) {  // no pattern here matches empty, but never loop on one
      pos = begin + std::max<std::size_t>(1, utf8_sequence_length(text, begin));
      continue;
    }
    if (begin > kept) out.push_back(text.substr(kept, begin - kept));
    out.push_back(text.substr(begin, end - begin));
    kept = pos = end;
  }
  if (kept < n) out.push_back(text.substr(kept));
}

std::vector<std::string> pre_tokenizer_patterns(PreTokenizer pre) {
  switch (pre) {
    case PreTokenizer::gpt2: return {gpt2_pattern()};
    case PreTokenizer::smollm: return {R"(\p{N})", gpt2_pattern()};
    case PreTokenizer::llama3: return {llama3_style_pattern(R"(\p{N}{1,3})")};
    case PreTokenizer::qwen2: return {llama3_style_pattern(R"(\p{N})")};
  }
  PERSONAS_FAIL(internal, "pre_tokenizer_patterns: unhandled pre-tokenizer {}", static_cast<int>(pre));
}

bool pcre2_jit_available() {
  std::uint32_t jit = 0;
  return pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit == 1;
}

PreTokenizerSplitter::PreTokenizerSplitter(PreTokenizer pre) {
  for (const std::string& p : pre_tokenizer_patterns(pre)) stages_.push_back(std::make_unique<Pcre2Regex>(p));
}

bool PreTokenizerSplitter::jit() const {
  for (const auto& s : stages_) {
    if (!s->jit()) return false;
  }
  return true;
}

void PreTokenizerSplitter::split(std::string_view text, std::vector<std::string_view>& out) const {
  thread_local std::vector<std::string_view> current;
  thread_local std::vector<std::string_view> next;
  const auto run_stages = [&](std::string_view run) {
    if (stages_.size() == 1) {
      stages_[0]->split(run, out);
      return;
    }
    current.assign(1, run);
    for (std::size_t i = 0; i < stages_.size(); ++i) {
      std::vector<std::string_view>& target = i + 1 == stages_.size() ? out : next;
      if (&target == &next) next.clear();
      for (std::string_view piece : current) stages_[i]->split(piece, target);
      if (&target == &next) current.swap(next);
    }
  };
  std::size_t run_begin = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t len = utf8_sequence_length(text, pos);
    if (len > 0) {
      pos += len;
      continue;
    }
    if (pos > run_begin) run_stages(text.substr(run_begin, pos - run_begin));
    out.push_back(text.substr(pos, 1));  // a byte that is not UTF-8: a word of its own
    run_begin = ++pos;
  }
  if (pos > run_begin) run_stages(text.substr(run_begin, pos - run_begin));
}

}  // namespace personas::bpe_detail
