// UTF-8 and GPT-2 byte-map helpers for the byte-level BPE tokenizer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace personas::bpe_detail {

// Length of the well-formed UTF-8 sequence at text[pos] (1..4), or 0 when the
// bytes there are not one (RFC 3629: no overlongs, no surrogates, nothing above
// U+10FFFF, no truncated sequence). PCRE2 is run only on well-formed runs.
std::size_t utf8_sequence_length(std::string_view text, std::size_t pos);

// Decodes the well-formed sequence of length `len` at text[pos].
char32_t utf8_decode(std::string_view text, std::size_t pos, std::size_t len);

void append_utf8(std::string& out, char32_t cp);

// The UTF-8 text of byte_to_unicode(b) ("Ġ" for 0x20).
const std::string& byte_char_utf8(std::uint8_t b);

// Maps token text in the byte-level alphabet back to bytes; a character
// outside the alphabet is copied as its UTF-8 bytes (as HF's ByteLevel
// decoder does).
std::string byte_level_to_bytes(std::string_view token_text);

// The byte-level text of raw bytes ("Hello world" -> "HelloĠworld").
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace personas::bpe_detail
