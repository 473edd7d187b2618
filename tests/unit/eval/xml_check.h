// A tiny XML well-formedness checker for the report tests: balanced and
// properly nested tags, quoted attributes without duplicates, valid entity
// references, no stray '<' or '&'. Enough to catch a broken page or SVG.
#pragma once

#include <cctype>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace personas::testing {

// Returns "" when `text` is well-formed, else a description with the offset.
inline std::string xml_problem(std::string_view text) {
  std::vector<std::string> stack;
  std::size_t i = 0;
  auto fail = [&](const std::string& what) { return what + " at offset " + std::to_string(i); };
  auto is_name = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.'; };
  auto check_entity = [&](std::size_t at) -> bool {
    const auto end = text.find(';', at);
    if (end == std::string_view::npos || end - at > 10) return false;
    const auto name = text.substr(at + 1, end - at - 1);
    if (name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos") return true;
    if (name.size() >= 2 && name[0] == '#') {
      for (std::size_t k = 1; k < name.size(); ++k)
        if (!std::isdigit(static_cast<unsigned char>(name[k]))) return false;
      return true;
    }
    return false;
  };
  bool seen_root = false;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '&') {
      if (!check_entity(i)) return fail("bad entity reference");
      ++i;
    } else if (c == '<') {
      if (text.substr(i, 4) == "<!--") {
        const auto end = text.find("-->", i);
        if (end == std::string_view::npos) return fail("unterminated comment");
        i = end + 3;
      } else if (text.substr(i, 9) == "<!DOCTYPE") {
        if (seen_root) return fail("DOCTYPE after the root element");
        const auto end = text.find('>', i);
        if (end == std::string_view::npos) return fail("unterminated DOCTYPE");
        i = end + 1;
      } else if (i + 1 < text.size() && text[i + 1] == '/') {
        std::size_t k = i + 2;
        while (k < text.size() && is_name(text[k])) ++k;
        const std::string name(text.substr(i + 2, k - i - 2));
        while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
        if (k >= text.size() || text[k] != '>') return fail("bad end tag </" + name);
        if (stack.empty() || stack.back() != name)
          return fail("end tag </" + name + "> does not match <" + (stack.empty() ? "" : stack.back()) + ">");
        stack.pop_back();
        i = k + 1;
      } else {
        std::size_t k = i + 1;
        while (k < text.size() && is_name(text[k])) ++k;
        const std::string name(text.substr(i + 1, k - i - 1));
        if (name.empty()) return fail("'<' not starting a tag");
        if (stack.empty() && seen_root) return fail("second root element <" + name + ">");
        std::set<std::string> attributes;
        bool self_closing = false;
        while (true) {
          while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
          if (k >= text.size()) return fail("unterminated tag <" + name);
          if (text[k] == '>') break;
          if (text[k] == '/' && k + 1 < text.size() && text[k + 1] == '>') {
            self_closing = true;
            ++k;
            break;
          }
          const std::size_t a = k;
          while (k < text.size() && is_name(text[k])) ++k;
          const std::string attribute(text.substr(a, k - a));
          if (attribute.empty()) return fail("bad attribute in <" + name + ">");
          if (!attributes.insert(attribute).second) return fail("duplicate attribute " + attribute);
          if (k >= text.size() || text[k] != '=') return fail("attribute " + attribute + " without a value");
          ++k;
          if (k >= text.size() || (text[k] != '"' && text[k] != '\'')) return fail("unquoted attribute " + attribute);
          const char quote = text[k++];
          while (k < text.size() && text[k] != quote) {
            if (text[k] == '<') return fail("'<' inside attribute " + attribute);
            if (text[k] == '&' && !check_entity(k)) return fail("bad entity in attribute " + attribute);
            ++k;
          }
          if (k >= text.size()) return fail("unterminated attribute " + attribute);
          ++k;
        }
        seen_root = true;
        if (!self_closing) stack.push_back(name);
        i = k + 1;
      }
    } else {
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(c)) && seen_root) return fail("text after the root");
      ++i;
    }
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + "> at end";
  if (!seen_root) return "no root element";
  return "";
}

// The <svg>...</svg> fragments of a page (assumes no nested svg).
inline std::vector<std::string> svg_fragments(const std::string& page) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = page.find("<svg", at)) != std::string::npos) {
    const auto end = page.find("</svg>", at);
    if (end == std::string::npos) {
      out.push_back(page.substr(at));
      break;
    }
    out.push_back(page.substr(at, end + 6 - at));
    at = end + 6;
  }
  return out;
}

}  // namespace personas::testing
