// record_to_line (memory_records.h): one record's JSON line written directly,
// byte for byte what record_to_json(...).dump() gives (nlohmann's default
// dump: keys in std::map order, strings escaped with ensure_ascii off). The
// offline writer spent ~45% of its time building, dumping and freeing those
// nlohmann objects. Anything unusual (a non-ASCII string, a rating that is
// not a multiple of 0.5) goes through nlohmann itself, so the bytes (and its
// error on invalid UTF-8) stay the same.
#include <cmath>

#include <fmt/format.h>

#include "distill/memory_records.h"

namespace personas {

namespace {

void append_string(std::string& out, const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) {  // UTF-8: nlohmann validates it
      out += nlohmann::json(s).dump();
      return;
    }
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        else out += c;
    }
  }
  out += '"';
}

void append_int(std::string& out, std::int64_t v) { fmt::format_to(std::back_inserter(out), "{}", v); }

// nlohmann stores the float as a double and prints it shortest, with ".0"
// on whole numbers: 4 -> "4.0", 3.5 -> "3.5"; other values are left to it.
void append_rating(std::string& out, float rating) {
  const double twice = 2.0 * static_cast<double>(rating);
  if (twice >= 1 && twice <= 20 && twice == std::floor(twice)) {  // 0.5 .. 10 (not -0.0: nlohmann writes "-0.0")
    const int t = static_cast<int>(twice);
    fmt::format_to(std::back_inserter(out), "{}.{}", t / 2, t % 2 ? '5' : '0');
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
  out.reserve(256 + 160 * r.memory.notes.size());
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
