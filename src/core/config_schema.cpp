#include "core/config_schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "core/strings.h"

namespace personas {

void Problems::throw_if_any(std::string_view what) const {
  if (items_.empty()) return;
  std::string message = fmt::format("{}: {} problem{}", what, items_.size(), items_.size() == 1 ? "" : "s");
  for (const auto& item : items_) message += "\n  - " + item;
  fail(ErrorKind::config, message, "see `personas <command> --help` and docs/config.md for every key");
}

namespace {

template <class T>
std::string parse_integer(const std::string& text, T* target) {
  T value{};
  auto s = trim(text);
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return fmt::format("'{}' is not an integer", text);
  *target = value;
  return "";
}

std::string format_double(double v) {
  // Shortest text that reads back to the same double.
  char buffer[64];
  auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, ptr);
}

}  // namespace

void ConfigSchema::add_field(const std::string& key, Field field) {
  PERSONAS_ASSERT(key.find('.') != std::string::npos, "config key '{}' must be section.name", key);
  PERSONAS_ASSERT(!fields_.count(key), "config key '{}' registered twice", key);
  order_.push_back(key);
  fields_.emplace(key, std::move(field));
}

void ConfigSchema::add(const std::string& key, int* target, const std::string& help) {
  add_field(key, {"int", help, [target](const std::string& v) { return parse_integer(v, target); },
                  [target] { return std::to_string(*target); }, {}});
}

void ConfigSchema::add(const std::string& key, std::int64_t* target, const std::string& help) {
  add_field(key, {"int64", help, [target](const std::string& v) { return parse_integer(v, target); },
                  [target] { return std::to_string(*target); }, {}});
}

void ConfigSchema::add(const std::string& key, double* target, const std::string& help) {
  add_field(key, {"float", help,
                  [target](const std::string& v) -> std::string {
                    auto s = trim(v);
                    double value = 0;
                    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
                    if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(value))
                      return fmt::format("'{}' is not a finite number", v);
                    *target = value;
                    return "";
                  },
                  [target] { return format_double(*target); }, {}});
}

void ConfigSchema::add(const std::string& key, bool* target, const std::string& help) {
  add_field(key, {"bool", help,
                  [target](const std::string& v) -> std::string {
                    auto s = to_lower(std::string(trim(v)));
                    if (s == "true" || s == "1" || s == "yes" || s == "on") *target = true;
                    else if (s == "false" || s == "0" || s == "no" || s == "off") *target = false;
                    else return fmt::format("'{}' is not a boolean (true/false)", v);
                    return "";
                  },
                  [target] { return std::string(*target ? "true" : "false"); }, {}});
}

void ConfigSchema::add(const std::string& key, std::string* target, const std::string& help) {
  add_field(key, {"string", help,
                  [target](const std::string& v) {
                    *target = std::string(trim(v));
                    return std::string();
                  },
                  [target] { return *target; }, {}});
}

void ConfigSchema::add_choice_field(const std::string& key, std::vector<std::string> choices, const std::string& help,
                                    std::function<void(std::size_t)> set_index,
                                    std::function<std::string()> get_word) {
  std::string joined = join(choices, "|");
  add_field(key, {"choice", fmt::format("{} ({})", help, joined),
                  [set_index, choices, joined](const std::string& v) -> std::string {
                    auto s = std::string(trim(v));
                    const auto it = std::find(choices.begin(), choices.end(), s);
                    if (it == choices.end()) return fmt::format("'{}' is not one of {}", v, joined);
                    set_index(static_cast<std::size_t>(it - choices.begin()));
                    return "";
                  },
                  std::move(get_word), choices});
}

void ConfigSchema::add_check(std::function<void(Problems&)> check) { checks_.push_back(std::move(check)); }

std::string ConfigSchema::set(const std::string& key, const std::string& value) {
  auto it = fields_.find(key);
  if (it == fields_.end()) return fmt::format("unknown key '{}'", key);
  return it->second.set(value);
}

std::string ConfigSchema::get(const std::string& key) const {
  auto it = fields_.find(key);
  PERSONAS_ASSERT(it != fields_.end(), "unknown config key '{}'", key);
  return it->second.get();
}

std::vector<std::string> ConfigSchema::keys() const { return order_; }

std::vector<std::string> ConfigSchema::sections() const {
  std::vector<std::string> out;
  for (const auto& key : order_) {
    auto section = key.substr(0, key.find('.'));
    if (std::find(out.begin(), out.end(), section) == out.end()) out.push_back(section);
  }
  return out;
}

Problems ConfigSchema::validate() const {
  Problems problems;
  for (const auto& key : order_) {
    const auto& field = fields_.at(key);
    if (!field.choices.empty()) {
      auto v = field.get();
      if (std::find(field.choices.begin(), field.choices.end(), v) == field.choices.end())
        problems.add("{}: '{}' is not one of {}", key, v, join(field.choices, "|"));
    }
  }
  for (const auto& check : checks_) check(problems);
  return problems;
}

std::string ConfigSchema::to_ini(const std::vector<std::string>& only_sections, bool with_help) const {
  std::ostringstream out;
  for (const auto& section : sections()) {
    if (!only_sections.empty() &&
        std::find(only_sections.begin(), only_sections.end(), section) == only_sections.end())
      continue;
    out << "[" << section << "]\n";
    for (const auto& key : order_) {
      if (key.compare(0, section.size() + 1, section + ".") != 0) continue;
      const auto& field = fields_.at(key);
      if (with_help) out << "# " << field.help << "\n";
      out << key.substr(section.size() + 1) << " = " << field.get() << "\n";
    }
    out << "\n";
  }
  return out.str();
}

boost::program_options::options_description ConfigSchema::describe(const std::string& caption) const {
  namespace po = boost::program_options;
  po::options_description desc(caption, 100, 50);
  for (const auto& key : order_) {
    const auto& field = fields_.at(key);
    // composing(): a key given twice on the command line is allowed, the last one wins
    // (main.cpp applies the parsed options in order).
    desc.add_options()(key.c_str(), po::value<std::vector<std::string>>()->composing()->value_name(field.type),
                       fmt::format("{} [default: {}]", field.help, field.get()).c_str());
  }
  return desc;
}

std::vector<ConfigEntry> parse_ini(std::string_view text, const std::string& source_name, Problems& problems) {
  std::vector<ConfigEntry> entries;
  std::string section;
  std::set<std::string> seen;
  std::size_t line_no = 0;
  for (auto line : split_lines(text)) {
    ++line_no;
    auto s = trim(line);
    if (s.empty() || s[0] == '#' || s[0] == ';') continue;
    std::string where = fmt::format("{}:{}", source_name, line_no);
    if (s.front() == '[') {
      if (s.back() != ']' || s.size() < 3) {
        problems.add("{}: malformed section header '{}'", where, s);
        continue;
      }
      section = std::string(trim(s.substr(1, s.size() - 2)));
      continue;
    }
    auto eq = s.find('=');
    if (eq == std::string_view::npos) {
      problems.add("{}: expected 'key = value', got '{}'", where, s);
      continue;
    }
    auto key = std::string(trim(s.substr(0, eq)));
    auto value = std::string(trim(s.substr(eq + 1)));
    // Trailing comments: "k = v   # note" (a '#' preceded by white space).
    for (std::size_t i = 1; i < value.size(); ++i) {
      if ((value[i] == '#' || value[i] == ';') && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
        value = std::string(trim(std::string_view(value).substr(0, i)));
        break;
      }
    }
    if (section.empty() && key.find('.') == std::string::npos) {
      problems.add("{}: key '{}' is outside any [section]", where, key);
      continue;
    }
    std::string dotted = key.find('.') == std::string::npos ? section + "." + key : key;
    if (!seen.insert(dotted).second) problems.add("{}: '{}' is set twice in this file", where, dotted);
    entries.push_back({dotted, value, where});
  }
  return entries;
}

void apply_entries(ConfigSchema& schema, const std::vector<ConfigEntry>& entries, Problems& problems) {
  for (const auto& entry : entries) {
    if (!schema.has(entry.key)) {
      problems.add("{}: unknown key '{}'", entry.origin, entry.key);
      continue;
    }
    auto error = schema.set(entry.key, entry.value);
    if (!error.empty()) problems.add("{}: {}: {}", entry.origin, entry.key, error);
  }
}

}  // namespace personas
