// Small string helpers shared by the loaders, the config reader and the CLI.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace personas {

// std::isspace in the "C" locale (space, \t \n \v \f \r) without its locale
// lookup per character: trim, count_words and first_words run over every
// profile of every training sample.
constexpr bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string_view trim(std::string_view s);
std::string to_lower(std::string s);
std::string join(const std::vector<std::string>& parts, std::string_view separator);
// Splits on '\n', dropping a trailing '\r' on each line; keeps empty lines.
std::vector<std::string_view> split_lines(std::string_view text);
// Splits on a separator string (e.g. "::" or "\t"); keeps empty fields.
std::vector<std::string_view> split(std::string_view text, std::string_view separator);
bool starts_with(std::string_view s, std::string_view prefix);
// Latin-1 bytes to UTF-8 (every byte is a code point).
std::string latin1_to_utf8(std::string_view latin1);
// True when the bytes are valid UTF-8.
bool is_valid_utf8(std::string_view bytes);
// Number of whitespace-separated words.
std::size_t count_words(std::string_view text);
// The whole of `text` as a decimal integer (an optional leading '-'); nullopt
// for anything else ("", "12abc", " 3", out of range): no exceptions.
std::optional<std::int64_t> parse_int64(std::string_view text);
// 64-bit FNV-1a, printed as 16 hex digits by hash_hex.
std::uint64_t fnv1a64(std::string_view bytes, std::uint64_t seed = 14695981039346656037ULL);
std::string hash_hex(std::string_view bytes);

}  // namespace personas
