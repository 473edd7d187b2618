// The configuration schema: every key "section.name" with its type, help text
// and a pointer to the field of the area struct that holds it. Area structs
// (DataConfig, TrainConfig, ...) keep their defaults in-class and register
// their fields in `describe(ConfigSchema&)`; checks that span fields go in
// `validate(Problems&)`.
//
// Values come from: in-class defaults < INI file (Boost's INI dialect: [section]
// then key = value; '#' and ';' start comments) < command-line overrides in
// dotted form (--train.lr 1e-4). Every problem is collected with its origin
// (file:line, or "command line") and reported at once.
#pragma once

#include <boost/program_options/options_description.hpp>
#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/choice_names.h"

namespace personas {

// A list of problems found while reading or validating configuration.
class Problems {
 public:
  template <class... Args>
  void add(fmt::format_string<Args...> format, Args&&... args) {
    items_.push_back(fmt::format(format, std::forward<Args>(args)...));
  }
  bool empty() const { return items_.empty(); }
  const std::vector<std::string>& items() const { return items_; }
  // Throws ErrorKind::config listing every problem, when there is any.
  void throw_if_any(std::string_view what) const;

 private:
  std::vector<std::string> items_;
};

class ConfigSchema {
 public:
  void add(const std::string& key, int* target, const std::string& help);
  void add(const std::string& key, std::int64_t* target, const std::string& help);
  void add(const std::string& key, double* target, const std::string& help);
  void add(const std::string& key, bool* target, const std::string& help);
  void add(const std::string& key, std::string* target, const std::string& help);
  // A choice, always held as an enum (there is no string form, so a typo in
  // code does not compile): `names` gives each value its word (the words of
  // the INI file, the command line, the help and the stage hashes), so code
  // compares enums, never strings.
  template <class E>
  void add_choice(const std::string& key, E* target, std::vector<std::pair<std::string, E>> names,
                  const std::string& help) {
    std::vector<std::string> words;
    for (const auto& n : names) words.push_back(n.first);
    add_choice_field(
        key, std::move(words), help, [target, names](std::size_t i) { *target = names[i].second; },
        [target, names] { return choice_word(names, *target); });
  }
  // A check over several fields, run by validate().
  void add_check(std::function<void(Problems&)> check);

  bool has(const std::string& key) const { return fields_.count(key) != 0; }
  // Sets a field from text; returns an error message, or "" on success.
  std::string set(const std::string& key, const std::string& value);
  std::string get(const std::string& key) const;
  std::vector<std::string> keys() const;
  std::vector<std::string> sections() const;

  // Runs every registered check and the per-field checks (choices).
  Problems validate() const;

  // The resolved configuration as INI text, help as comments. With a non-empty
  // `only_sections`, only those sections (stage hashes use this).
  std::string to_ini(const std::vector<std::string>& only_sections = {}, bool with_help = true) const;

  // For --help and for parsing dotted overrides on the command line.
  boost::program_options::options_description describe(const std::string& caption) const;

 private:
  struct Field {
    std::string type;
    std::string help;
    std::function<std::string(const std::string&)> set;  // returns error text or ""
    std::function<std::string()> get;
    std::vector<std::string> choices;
  };
  void add_field(const std::string& key, Field field);
  // add_choice's implementation, out of the template: `set_index` stores the
  // i-th word's value, `get_word` says the value in words.
  void add_choice_field(const std::string& key, std::vector<std::string> choices, const std::string& help,
                        std::function<void(std::size_t)> set_index, std::function<std::string()> get_word);
  std::map<std::string, Field> fields_;
  std::vector<std::string> order_;  // registration order, for readable output
  std::vector<std::function<void(Problems&)>> checks_;
};

// One key = value with where it came from ("configs/x.ini:12" or "command line").
struct ConfigEntry {
  std::string key;
  std::string value;
  std::string origin;
};

// Parses INI text into dotted entries; syntax errors go to `problems`.
std::vector<ConfigEntry> parse_ini(std::string_view text, const std::string& source_name,
                                   Problems& problems);

// Applies entries in order; unknown keys and bad values go to `problems`.
void apply_entries(ConfigSchema& schema, const std::vector<ConfigEntry>& entries, Problems& problems);

}  // namespace personas
