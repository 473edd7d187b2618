// Generic CSV ratings (ML-latest / ML-25M style): a header row names the
// columns; data.csv_*_col say which is which. Quoted fields ("a, b" with ""
// for a quote) are understood; a quoted field cannot span lines.
#include <algorithm>

#include "core/errors.h"
#include "core/strings.h"
#include "data/loaders.h"
#include "data/text_input.h"

namespace personas {

namespace {

std::string separator_of(const DataConfig& config) {
  return config.csv_separator == "tab" ? std::string("\t") : config.csv_separator;
}

// Splits one CSV line; returns false on an unterminated quote.
bool split_csv(std::string_view line, std::string_view sep, std::vector<std::string>& out) {
  out.clear();
  if (line.find('"') == std::string_view::npos) {
    for (auto f : split(line, sep)) out.emplace_back(f);
    return true;
  }
  std::string field;
  std::size_t i = 0;
  while (true) {
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) return false;
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      // Text between the closing quote and the separator is kept verbatim.
      auto next = line.find(sep, i);
      field += line.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i);
      out.push_back(field);
      if (next == std::string_view::npos) return true;
      i = next + sep.size();
    } else {
      auto next = line.find(sep, i);
      out.emplace_back(line.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i));
      if (next == std::string_view::npos) return true;
      i = next + sep.size();
    }
  }
}

// Index of `name` in the header; -1 when `optional` and absent.
int column(const std::vector<std::string>& header, const std::string& name, const std::string& key,
           const std::string& file, bool optional = false) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (trim(header[i]) == name) return static_cast<int>(i);
  if (optional) return -1;
  fail(ErrorKind::data,
       fmt::format("{}:1: no column '{}' in the header (columns: {})", file, name, join(header, ", ")),
       fmt::format("set {} to the header name of that column", key));
}

std::string_view strip_bom(std::string_view text) {
  return starts_with(text, "\xEF\xBB\xBF") ? text.substr(3) : text;
}

void load_items_csv(const fs::path& path, const DataConfig& config, RatingsBuilder& builder, BadRows& bad) {
  const std::string file = path.string();
  std::string text = ensure_utf8(path, read_text_source(path), "utf8");
  LineReader lines(strip_bom(text));
  std::string_view line;
  std::vector<std::string> f;
  PERSONAS_CHECK(lines.next(line), data, "{}: empty file (expected a header row)", file);
  const std::string sep = separator_of(config);
  PERSONAS_CHECK(split_csv(line, sep, f), data, "{}:1: unterminated quote in the header", file);
  const auto header = f;
  const int id_col = column(header, config.csv_item_col, "data.csv_item_col", file);
  const int title_col = column(header, config.csv_item_title_col, "data.csv_item_title_col", file, true);
  const int genres_col = column(header, config.csv_item_genres_col, "data.csv_item_genres_col", file, true);
  auto& genre_names = builder.ratings().genre_names;
  while (lines.next(line)) {
    if (trim(line).empty()) continue;
    if (!split_csv(line, sep, f)) {
      bad.report(file, lines.line_number(), "unterminated quote");
      continue;
    }
    if (f.size() != header.size()) {
      bad.report(file, lines.line_number(), "expected {} fields like the header, found {}", header.size(), f.size());
      continue;
    }
    std::int64_t id = 0;
    if (!parse_int64(f[static_cast<std::size_t>(id_col)], id) || id < 0 || id > INT32_MAX) {
      bad.report(file, lines.line_number(), "item id '{}' is not a non-negative integer", f[static_cast<std::size_t>(id_col)]);
      continue;
    }
    Item item;
    item.id = static_cast<std::int32_t>(id);
    if (title_col >= 0) {
      auto [title, year] = split_title_year(f[static_cast<std::size_t>(title_col)]);
      item.title = title;
      item.year = year;
    }
    bool genres_ok = true;
    if (genres_col >= 0) {
      for (auto name : split(f[static_cast<std::size_t>(genres_col)], "|")) {
        name = trim(name);
        if (name.empty() || name == "(no genres listed)") continue;
        auto it = std::find(genre_names.begin(), genre_names.end(), name);
        if (it == genre_names.end()) {
          if (genre_names.size() >= 32) {
            genres_ok = false;
            break;
          }
          genre_names.emplace_back(name);
          it = genre_names.end() - 1;
        }
        item.genres |= 1u << (it - genre_names.begin());
      }
    }
    if (!genres_ok) {
      bad.report(file, lines.line_number(), "more than 32 distinct genres");
      continue;
    }
    builder.add_item(std::move(item), file, lines.line_number());
  }
}

}  // namespace

Ratings load_csv(const fs::path& path, const DataConfig& config, BadRows& bad) {
  RatingsBuilder builder("csv", config.rating_min, config.rating_max, bad);
  builder.allow_new_users(true);
  if (!config.csv_items_path.empty()) {
    load_items_csv(config.csv_items_path, config, builder, bad);
  } else {
    builder.allow_new_items(true);
  }
  const std::string file = path.string();
  std::string text = ensure_utf8(path, read_text_source(path), "utf8");
  LineReader lines(strip_bom(text));
  std::string_view line;
  std::vector<std::string> f;
  PERSONAS_CHECK(lines.next(line), data, "{}: empty file (expected a header row)", file);
  const std::string sep = separator_of(config);
  PERSONAS_CHECK(split_csv(line, sep, f), data, "{}:1: unterminated quote in the header", file);
  const auto header = f;
  const int user_col = column(header, config.csv_user_col, "data.csv_user_col", file);
  const int item_col = column(header, config.csv_item_col, "data.csv_item_col", file);
  const int rating_col = column(header, config.csv_rating_col, "data.csv_rating_col", file);
  const bool with_time = !config.csv_time_col.empty();
  const int time_col = with_time ? column(header, config.csv_time_col, "data.csv_time_col", file) : -1;
  std::int64_t rows = 0;
  while (lines.next(line)) {
    if (trim(line).empty()) continue;
    ++rows;
    if (!split_csv(line, sep, f)) {
      bad.report(file, lines.line_number(), "unterminated quote");
      continue;
    }
    if (f.size() != header.size()) {
      bad.report(file, lines.line_number(), "expected {} fields like the header, found {}", header.size(), f.size());
      continue;
    }
    std::int64_t user = 0, item = 0, time = 0;
    double rating = 0;
    if (!parse_int64(f[static_cast<std::size_t>(user_col)], user) ||
        !parse_int64(f[static_cast<std::size_t>(item_col)], item) ||
        !parse_double(f[static_cast<std::size_t>(rating_col)], rating) ||
        (with_time && !parse_int64(f[static_cast<std::size_t>(time_col)], time))) {
      bad.report(file, lines.line_number(), "non-numeric field in '{}'", line.substr(0, 80));
      continue;
    }
    builder.add_rating(user, item, rating, time, file, lines.line_number());
  }
  PERSONAS_CHECK(rows > 0, data, "{}: the ratings file has a header and no rating rows", file);
  return builder.finish(with_time);
}

}  // namespace personas
