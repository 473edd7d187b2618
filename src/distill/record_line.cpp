// record_to_line (memory_records.h): one record's JSON line written directly,
// byte for byte what record_to_json(...).dump() gives (nlohmann's default
// dump: keys in std::map order, strings escaped with ensure_ascii off). The
// offline writer spent ~45% of its time building, dumping and freeing those
// nlohmann objects. Anything unusual (a non-ASCII string, a rating that is
// not a multiple of 0.5) goes through nlohmann itself, so the bytes (and its
// error on invalid UTF-8) stay the same.
#include <array>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "distill/memory_records.h"

namespace personas {

namespace {

// 0: copied as is; 1: escaped; 2: non-ASCII (the whole string goes to nlohmann).
constexpr auto kEscape = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = 1;
  t['"'] = t['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c) t[static_cast<std::size_t>(c)] = 2;
  return t;
}();

void append_string(std::string& out, const std::string& s) {
  const std::size_t mark = out.size();
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto kind = kEscape[static_cast<unsigned char>(s[i])];
    if (kind == 0) continue;
    if (kind == 2) {  // UTF-8: nlohmann validates and writes it
      out.resize(mark);
      out += nlohmann::json(s).dump();
      return;
    }
    out.append(s, run, i - run);
    run = i + 1;
    switch (s[i]) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(s[i])));
    }
  }
  out.append(s, run, s.size() - run);
  out += '"';
}

void append_int(std::string& out, std::int64_t v) {
  const fmt::format_int text(v);
  out.append(text.data(), text.size());
}

// nlohmann stores the float as a double and prints it shortest, with ".0"
// on whole numbers: 4 -> "4.0", 3.5 -> "3.5"; other values are left to it.
void append_rating(std::string& out, float rating) {
  const double twice = 2.0 * static_cast<double>(rating);
  if (twice >= 1 && twice <= 20 && twice == std::floor(twice)) {  // 0.5 .. 10 (not -0.0: nlohmann writes "-0.0")
    const int t = static_cast<int>(twice);
    append_int(out, t / 2);
    out += t % 2 ? ".5" : ".0";
  } else {
    out += nlohmann::json(rating).dump();
  }
}

void append_key(std::string& out, const char* key, bool first = false) {
  if (!first) out += ',';
  out += '"';
  out += key;
  out += "\":";
}

}  // namespace

std::string record_to_line(const MemoryRecord& r, const std::vector<Item>* items) {
  std::string out;
  out.reserve(512 + 256 * r.memory.notes.size());
  out += '{';
  if (r.failed) {
    append_key(out, "failed", true);
    out += "true";
    append_key(out, "index");
    append_int(out, r.index);
    append_key(out, "model");
    append_string(out, r.memory.model);
    append_key(out, "prompt_version");
    append_string(out, r.memory.prompt_version);
    append_key(out, "provider");
    append_string(out, r.memory.provider);
    append_key(out, "reason");
    append_string(out, r.reason);
  } else {
    append_key(out, "activity", true);
    append_string(out, r.memory.activity);
    append_key(out, "conformity");
    append_string(out, r.memory.conformity);
    append_key(out, "diversity");
    append_string(out, r.memory.diversity);
    append_key(out, "index");
    append_int(out, r.index);
    append_key(out, "model");
    append_string(out, r.memory.model);
    append_key(out, "notes");
    out += '[';
    for (std::size_t k = 0; k < r.memory.notes.size(); ++k) {
      const ItemNote& n = r.memory.notes[k];
      if (k) out += ',';
      out += "{\"item\":";
      append_int(out, n.item);
      if (items && n.item >= 0 && static_cast<std::size_t>(n.item) < items->size()) {
        append_key(out, "item_id");
        append_int(out, (*items)[static_cast<std::size_t>(n.item)].id);
      }
      append_key(out, "rating");
      append_rating(out, n.rating);
      append_key(out, "text");
      append_string(out, n.text);
      out += '}';
    }
    out += ']';
    append_key(out, "profile");
    append_string(out, r.memory.profile);
    append_key(out, "prompt_version");
    append_string(out, r.memory.prompt_version);
    append_key(out, "provider");
    append_string(out, r.memory.provider);
  }
  append_key(out, "user_id");
  append_int(out, r.memory.user_id);
  out += '}';
  return out;
}

}  // namespace personas
