// byte_bpe_from_hf_json: a Hugging Face tokenizer.json of a byte-level BPE.
#include <nlohmann/json.hpp>

#include <map>

#include "core/errors.h"
#include "model/byte_bpe.h"

namespace personas {
namespace {

using nlohmann::json;

// The Split regexes of HF's Llama 3 and Qwen2 tokenizer.json files.
constexpr const char* kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string type_of(const json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return {};
  return j["type"].get<std::string>();
}

bool flag(const json& j, const char* key, bool fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  return j[key].is_boolean() ? j[key].get<bool>() : fallback;
}

// A ByteLevel pre-tokenizer that adds no prefix space, with or without its GPT-2 regex.
bool is_byte_level(const json& j, bool use_regex) {
  return type_of(j) == "ByteLevel" && !flag(j, "add_prefix_space", true) && flag(j, "use_regex", true) == use_regex;
}

// Which of our pre-tokenizers the exact pre_tokenizer structure is; "" when none.
std::string guess_pre(const json& pt) {
  if (is_byte_level(pt, true)) return "gpt2";
  if (type_of(pt) != "Sequence" || !pt.contains("pretokenizers") || !pt["pretokenizers"].is_array()) return {};
  const json& seq = pt["pretokenizers"];
  if (seq.size() != 2) return {};
  const json& first = seq[0];
  if (type_of(first) == "Digits" && flag(first, "individual_digits", false) && is_byte_level(seq[1], true)) {
    return "smollm";
  }
  if (type_of(first) == "Split" && is_byte_level(seq[1], false) && first.contains("pattern") &&
      first["pattern"].is_object() && first["pattern"].contains("Regex") && first["pattern"]["Regex"].is_string() &&
      first.value("behavior", std::string()) == "Isolated" && !flag(first, "invert", false)) {
    const std::string regex = first["pattern"]["Regex"].get<std::string>();
    if (regex == kLlama3Split) return "llama3";
    if (regex == kQwen2Split) return "qwen2";
  }
  return {};
}

}  // namespace

ByteBpeData byte_bpe_from_hf_json(const std::string& json_text, const std::string& where, const std::string& pre) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    PERSONAS_FAIL(data, "{}: not JSON: {}", where, e.what());
  }
  PERSONAS_CHECK(root.is_object() && root.contains("model") && root["model"].is_object(), data,
                 "{}: no 'model' object (not a tokenizer.json?)", where);
  const json& model = root["model"];
  PERSONAS_CHECK(type_of(model) == "BPE", data, "{}: model.type is '{}', a byte-level BPE needs 'BPE'", where,
                 type_of(model));
  PERSONAS_CHECK(!flag(model, "byte_fallback", false), data, "{}: model.byte_fallback is true (a SentencePiece-style "
                 "BPE, not byte-level)", where);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    PERSONAS_CHECK(!model.contains(key) || model[key].is_null() || model[key] == "", data,
                   "{}: model.{} is set; byte-level BPE does not use it", where, key);
  }
  PERSONAS_CHECK(!model.contains("dropout") || model["dropout"].is_null(), data,
                 "{}: model.dropout is set; only deterministic BPE is supported", where);

  // Normalizer: none (NFC, as Qwen2's, is accepted and not applied, as llama.cpp does).
  if (root.contains("normalizer") && !root["normalizer"].is_null()) {
    const std::string t = type_of(root["normalizer"]);
    PERSONAS_CHECK(t == "NFC", data, "{}: normalizer '{}' is not supported (only none or NFC)", where, t);
  }

  ByteBpeData out;
  if (!pre.empty()) {
    try {
      parse_pre_tokenizer(pre);
    } catch (const Error& e) {
      PERSONAS_FAIL(data, "{}: {}", where, e.message());
    }
    out.pre = pre;
  } else {
    PERSONAS_CHECK(root.contains("pre_tokenizer") && !root["pre_tokenizer"].is_null(), data,
                   "{}: no pre_tokenizer; a byte-level BPE needs ByteLevel", where);
    out.pre = guess_pre(root["pre_tokenizer"]);
    PERSONAS_CHECK_HINT(!out.pre.empty(), data, "name the pre-tokenizer (gpt2, smollm, llama3, qwen2) explicitly",
                        "{}: pre_tokenizer {} is none of the known byte-level ones (ByteLevel = gpt2, "
                        "Sequence[Digits(individual), ByteLevel] = smollm, Split(llama3 or qwen2 regex) + ByteLevel)",
                        where, root["pre_tokenizer"].dump().substr(0, 300));
  }
  // llama.cpp applies ignore_merges exactly for llama3; the file must agree.
  const bool ignore_merges = flag(model, "ignore_merges", false);
  PERSONAS_CHECK(ignore_merges == (parse_pre_tokenizer(out.pre) == PreTokenizer::llama3), data,
                 "{}: model.ignore_merges is {} but pre-tokenizer '{}' implies {}", where, ignore_merges, out.pre,
                 !ignore_merges);

  // Vocabulary and added tokens, by id.
  PERSONAS_CHECK(model.contains("vocab") && model["vocab"].is_object(), data, "{}: model.vocab is not an object",
                 where);
  std::map<std::int64_t, std::pair<std::string, std::int32_t>> by_id;  // id -> (text, type)
  constexpr std::int64_t kMaxId = 1 << 24;
  for (const auto& [text, id_json] : model["vocab"].items()) {
    PERSONAS_CHECK(id_json.is_number_integer(), data, "{}: model.vocab['{}'] is not an integer id", where, text);
    const std::int64_t id = id_json.get<std::int64_t>();
    PERSONAS_CHECK(id >= 0 && id < kMaxId, data, "{}: model.vocab['{}'] = {} is out of range", where, text, id);
    const auto [it, inserted] = by_id.emplace(id, std::make_pair(text, std::int32_t{1}));
    PERSONAS_CHECK(inserted, data, "{}: model.vocab gives id {} to '{}' and '{}'", where, id, it->second.first, text);
  }
  if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
    PERSONAS_CHECK(root["added_tokens"].is_array(), data, "{}: added_tokens is not an array", where);
    std::size_t k = 0;
    for (const json& a : root["added_tokens"]) {
      PERSONAS_CHECK(a.is_object() && a.contains("id") && a["id"].is_number_integer() && a.contains("content") &&
                         a["content"].is_string(),
                     data, "{}: added_tokens[{}] needs an integer 'id' and a string 'content'", where, k);
      const std::int64_t id = a["id"].get<std::int64_t>();
      const std::string content = a["content"].get<std::string>();
      PERSONAS_CHECK(id >= 0 && id < kMaxId, data, "{}: added_tokens[{}] id {} is out of range", where, k, id);
      const std::int32_t type = flag(a, "special", false) ? 3 : 4;
      auto it = by_id.find(id);
      if (it == by_id.end()) {
        by_id.emplace(id, std::make_pair(content, type));
      } else {
        PERSONAS_CHECK(it->second.first == content, data,
                       "{}: added_tokens[{}] gives id {} to '{}', model.vocab to '{}'", where, k, id, content,
                       it->second.first);
        it->second.second = type;
      }
      ++k;
    }
  }
  PERSONAS_CHECK(!by_id.empty(), data, "{}: the vocabulary is empty", where);
  const std::int64_t n = by_id.rbegin()->first + 1;
  out.tokens.resize(static_cast<std::size_t>(n));
  out.token_types.assign(static_cast<std::size_t>(n), 5);  // holes: unused, named as llama.cpp's converter does
  for (std::int64_t id = 0; id < n; ++id) out.tokens[id] = fmt::format("[PAD{}]", id);
  for (const auto& [id, entry] : by_id) {
    out.tokens[id] = entry.first;
    out.token_types[id] = entry.second;
  }

  PERSONAS_CHECK(model.contains("merges") && model["merges"].is_array(), data, "{}: model.merges is not an array",
                 where);
  out.merges.reserve(model["merges"].size());
  std::size_t k = 0;
  for (const json& m : model["merges"]) {
    if (m.is_string()) {
      out.merges.push_back(m.get<std::string>());
    } else {
      PERSONAS_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), data,
                     "{}: model.merges[{}] is neither 'a b' nor [a, b]", where, k);
      const std::string left = m[0].get<std::string>();
      const std::string right = m[1].get<std::string>();
      PERSONAS_CHECK(!left.empty() && left.find(' ', 1) == std::string::npos && !right.empty(), data,
                     "{}: model.merges[{}] ['{}', '{}'] cannot be written as 'left right'", where, k, left, right);
      out.merges.push_back(left + " " + right);
    }
    ++k;
  }
  return out;
}

}  // namespace personas
