#include "model/byte_unicode.h"

#include <array>

#include "model/byte_bpe.h"

namespace personas {
namespace {

// GPT-2's bytes_to_unicode: printable bytes (0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF)
// map to themselves, the other 68 in increasing order to U+0100, U+0101, ...
struct ByteMap {
  std::array<char32_t, 256> to_cp{};
  std::array<std::string, 256> to_utf8;
  ByteMap() {
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? static_cast<char32_t>(b) : next++;
      bpe_detail::append_utf8(to_utf8[b], to_cp[b]);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

}  // namespace

char32_t byte_to_unicode(std::uint8_t b) { return byte_map().to_cp[b]; }

int unicode_to_byte(char32_t cp) {
  // Inverse of the table above, without a search.
  if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) {
    return static_cast<int>(cp);
  }
  if (cp < 0x100 || cp > 0x143) return -1;
  // The 68 non-printable bytes in increasing order.
  static const std::array<std::uint8_t, 68> others = [] {
    std::array<std::uint8_t, 68> out{};
    std::size_t k = 0;
    for (int b = 0; b < 256; ++b) {
      if (byte_to_unicode(static_cast<std::uint8_t>(b)) >= 0x100) out[k++] = static_cast<std::uint8_t>(b);
    }
    return out;
  }();
  return others[cp - 0x100];
}

namespace bpe_detail {

std::size_t utf8_sequence_length(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const std::size_t left = text.size() - pos;
  const unsigned char c = byte(pos);
  if (c < 0x80) return 1;
  const auto cont = [&](std::size_t i) { return (byte(i) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(pos + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !cont(pos + 1) || !cont(pos + 2)) return 0;
    const unsigned char c1 = byte(pos + 1);
    if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
    if (c == 0xED && c1 > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !cont(pos + 1) || !cont(pos + 2) || !cont(pos + 3)) return 0;
    const unsigned char c1 = byte(pos + 1);
    if (c == 0xF0 && c1 < 0x90) return 0;  // overlong
    if (c == 0xF4 && c1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;  // continuation byte, C0, C1, F5..FF
}

char32_t utf8_decode(std::string_view text, std::size_t pos, std::size_t len) {
  const auto byte = [&](std::size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[pos + i])); };
  switch (len) {
    case 1: return byte(0);
    case 2: return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    case 3: return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    default: return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
  }
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

const std::string& byte_char_utf8(std::uint8_t b) { return byte_map().to_utf8[b]; }

std::string byte_level_to_bytes(std::string_view token_text) {
  std::string out;
  out.reserve(token_text.size());
  std::size_t pos = 0;
  while (pos < token_text.size()) {
    const std::size_t len = utf8_sequence_length(token_text, pos);
    if (len == 0) {  // not UTF-8: keep the byte as it is
      out += token_text[pos++];
      continue;
    }
    const int b = unicode_to_byte(utf8_decode(token_text, pos, len));
    if (b >= 0) {
      out += static_cast<char>(b);
    } else {
      out.append(token_text, pos, len);
    }
    pos += len;
  }
  return out;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += byte_char_utf8(static_cast<std::uint8_t>(c));
  return out;
}

}  // namespace bpe_detail
}  // namespace personas
