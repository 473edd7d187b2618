// MovieLens 100K, 1M and the ML-1M fallback.
#include <array>

#include "core/errors.h"
#include "core/log.h"
#include "core/strings.h"
#include "data/loaders.h"
#include "data/text_input.h"

namespace personas {

namespace {

const std::vector<std::string> kMl1mGenres = {"Action",  "Adventure", "Animation", "Children's", "Comedy",
                                              "Crime",   "Documentary", "Drama",   "Fantasy",    "Film-Noir",
                                              "Horror",  "Musical",   "Mystery",   "Romance",    "Sci-Fi",
                                              "Thriller", "War",      "Western"};

const std::vector<std::string> kMl1mOccupations = {
    "other",        "academic/educator", "artist",           "clerical/admin",      "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer",     "homemaker",
    "K-12 student", "lawyer",            "programmer",       "retired",             "sales/marketing",
    "scientist",    "self-employed",     "technician/engineer", "tradesman/craftsman", "unemployed",
    "writer"};

fs::path require_file(const fs::path& folder, const std::string& name) {
  auto path = folder / name;
  PERSONAS_CHECK_HINT(fs::exists(path), io, "data.path must be the folder holding the MovieLens files",
                      "'{}' not found (data.path = '{}')", path.string(), folder.string());
  return path;
}

char parse_gender(std::string_view text) {
  text = trim(text);
  if (text == "M" || text == "m") return 'M';
  if (text == "F" || text == "f") return 'F';
  return 0;
}

std::vector<std::string> load_ml100k_genres(const fs::path& path, BadRows& bad) {
  std::string text = read_text_source(path);
  std::vector<std::string> names;
  LineReader lines(text);
  std::string_view line;
  std::array<std::string_view, 3> f;
  while (lines.next(line)) {
    if (trim(line).empty()) continue;
    std::int64_t index = 0;
    if (split_fields(line, "|", f) != 2 || !parse_int64(f[1], index) || index != static_cast<std::int64_t>(names.size())) {
      bad.report(path.string(), lines.line_number(), "expected 'name|{}'", names.size());
      continue;
    }
    names.emplace_back(trim(f[0]));
  }
  PERSONAS_CHECK(!names.empty() && names.size() <= 32, data, "{}: {} genres (expected 1..32)", path.string(),
                 names.size());
  return names;
}

}  // namespace

std::pair<std::string, int> split_title_year(std::string_view title) {
  title = trim(title);
  if (title.size() >= 7 && title.back() == ')' && title[title.size() - 6] == '(') {
    auto digits = title.substr(title.size() - 5, 4);
    std::int64_t year = 0;
    if (digits.find_first_not_of("0123456789") == std::string_view::npos && parse_int64(digits, year))
      return {std::string(trim(title.substr(0, title.size() - 6))), static_cast<int>(year)};
  }
  return {std::string(title), 0};
}

namespace {

// Rating rows of numeric fields: user, item, rating[, timestamp]; ErrorKind::data
// naming the file when it holds none.
void load_rating_rows(const fs::path& path, std::string_view separator, bool with_time, RatingsBuilder& builder,
                      BadRows& bad) {
  const std::string file = path.string();
  std::string text = read_text_source(path);
  LineReader lines(text);
  std::string_view line;
  std::array<std::string_view, 4> f;
  const std::size_t expected = with_time ? 4 : 3;
  const std::string separated = separator == "\t" ? "tab-separated" : fmt::format("'{}'-separated", separator);
  std::int64_t rows = 0;
  while (lines.next(line)) {
    if (trim(line).empty()) continue;
    ++rows;
    const auto n = split_fields(line, separator, f);
    if (n != expected) {
      bad.report(file, lines.line_number(), "expected {} {} fields, found {}", expected, separated, n);
      continue;
    }
    std::int64_t user = 0, item = 0, time = 0;
    double rating = 0;
    if (!parse_int64(f[0], user) || !parse_int64(f[1], item) || !parse_double(f[2], rating) ||
        (with_time && !parse_int64(f[3], time))) {
      bad.report(file, lines.line_number(), "non-numeric field in '{}'", line.substr(0, 80));
      continue;
    }
    builder.add_rating(user, item, rating, time, file, lines.line_number());
  }
  // Said here, naming the file: otherwise the selection reports "none of the
  // N users has between a and b ratings", which points at the wrong thing.
  PERSONAS_CHECK(rows > 0, data, "{}: the ratings file is empty (no rating rows)", file);
}

}  // namespace

Ratings load_ml100k(const fs::path& folder, const DataConfig& config, BadRows& bad) {
  const auto data_path = require_file(folder, "u.data");
  const auto item_path = require_file(folder, "u.item");
  const auto user_path = require_file(folder, "u.user");
  const auto genre_path = require_file(folder, "u.genre");
  RatingsBuilder builder("ml100k", config.rating_min, config.rating_max, bad);
  auto& ratings = builder.ratings();
  ratings.genre_names = load_ml100k_genres(genre_path, bad);
  const std::size_t n_genres = ratings.genre_names.size();

  {  // u.item: id|title|release date|video release date|IMDb URL|one 0/1 flag per genre
    const std::string file = item_path.string();
    std::string text = ensure_utf8(item_path, read_text_source(item_path), "latin1");
    LineReader lines(text);
    std::string_view line;
    std::array<std::string_view, 40> f;
    while (lines.next(line)) {
      if (trim(line).empty()) continue;
      const auto n = split_fields(line, "|", f);
      if (n != 5 + n_genres) {
        bad.report(file, lines.line_number(), "expected {} '|'-separated fields, found {}", 5 + n_genres, n);
        continue;
      }
      Item item;
      std::int64_t id = 0;
      if (!parse_int64(f[0], id) || id < 0 || id > INT32_MAX) {
        bad.report(file, lines.line_number(), "item id '{}' is not a non-negative integer", f[0]);
        continue;
      }
      item.id = static_cast<std::int32_t>(id);
      auto [title, year] = split_title_year(f[1]);
      item.title = title;
      item.year = year;
      if (item.year == 0 && f[2].size() >= 4) {  // release date "01-Jan-1995"
        std::int64_t y = 0;
        if (parse_int64(f[2].substr(f[2].size() - 4), y)) item.year = static_cast<std::int32_t>(y);
      }
      bool flags_ok = true;
      for (std::size_t g = 0; g < n_genres; ++g) {
        auto flag = trim(f[5 + g]);
        if (flag == "1") item.genres |= 1u << g;
        else if (flag != "0") flags_ok = false;
      }
      if (!flags_ok) {
        bad.report(file, lines.line_number(), "genre flags must be 0 or 1");
        continue;
      }
      builder.add_item(std::move(item), file, lines.line_number());
    }
  }
  {  // u.user: id|age|gender|occupation|zip
    const std::string file = user_path.string();
    std::string text = ensure_utf8(user_path, read_text_source(user_path), "latin1");
    LineReader lines(text);
    std::string_view line;
    std::array<std::string_view, 6> f;
    while (lines.next(line)) {
      if (trim(line).empty()) continue;
      const auto n = split_fields(line, "|", f);
      std::int64_t id = 0, age = 0;
      if (n != 5) {
        bad.report(file, lines.line_number(), "expected 5 '|'-separated fields, found {}", n);
        continue;
      }
      if (!parse_int64(f[0], id) || !parse_int64(f[1], age) || age < 0 || age > 150) {
        bad.report(file, lines.line_number(), "user id '{}' or age '{}' is not a valid number", f[0], f[1]);
        continue;
      }
      char gender = parse_gender(f[2]);
      if (!gender) {
        bad.report(file, lines.line_number(), "gender '{}' is not M or F", f[2]);
        continue;
      }
      User user;
      user.id = id;
      user.age = static_cast<std::int32_t>(age);
      user.gender = gender;
      user.occupation = std::string(trim(f[3]));
      builder.add_user(std::move(user), file, lines.line_number());
    }
  }
  load_rating_rows(data_path, "\t", /*with_time=*/true, builder, bad);  // u.data: user \t item \t rating \t time
  return builder.finish(/*has_timestamps=*/true);
}

namespace {

// movies.dat: MovieID::Title::Genre|Genre...
void load_ml1m_movies(const fs::path& path, RatingsBuilder& builder, BadRows& bad) {
  auto& ratings = builder.ratings();
  ratings.genre_names = kMl1mGenres;
  const std::string file = path.string();
  std::string text = ensure_utf8(path, read_text_source(path), "latin1");
  LineReader lines(text);
  std::string_view line;
  std::array<std::string_view, 4> f;
  while (lines.next(line)) {
    if (trim(line).empty()) continue;
    const auto n = split_fields(line, "::", f);
    std::int64_t id = 0;
    if (n != 3) {
      bad.report(file, lines.line_number(), "expected 3 '::'-separated fields, found {}", n);
      continue;
    }
    if (!parse_int64(f[0], id) || id < 0 || id > INT32_MAX) {
      bad.report(file, lines.line_number(), "movie id '{}' is not a non-negative integer", f[0]);
      continue;
    }
    Item item;
    item.id = static_cast<std::int32_t>(id);
    auto [title, year] = split_title_year(f[1]);
    item.title = title;
    item.year = year;
    bool genres_ok = true;
    for (auto name : split(trim(f[2]), "|")) {
      name = trim(name);
      if (name.empty() || name == "(no genres listed)") continue;
      auto it = std::find(ratings.genre_names.begin(), ratings.genre_names.end(), name);
      if (it == ratings.genre_names.end()) {
        if (ratings.genre_names.size() >= 32) {
          genres_ok = false;
          break;
        }
        ratings.genre_names.emplace_back(name);
        it = ratings.genre_names.end() - 1;
      }
      item.genres |= 1u << (it - ratings.genre_names.begin());
    }
    if (!genres_ok) {
      bad.report(file, lines.line_number(), "more than 32 distinct genres");
      continue;
    }
    builder.add_item(std::move(item), file, lines.line_number());
  }
}

// users.dat: UserID::Gender::Age::Occupation::Zip-code
void load_ml1m_users(const fs::path& path, RatingsBuilder& builder, BadRows& bad) {
  const std::string file = path.string();
  std::string text = ensure_utf8(path, read_text_source(path), "latin1");
  LineReader lines(text);
  std::string_view line;
  std::array<std::string_view, 6> f;
  while (lines.next(line)) {
    if (trim(line).empty()) continue;
    const auto n = split_fields(line, "::", f);
    if (n != 5) {
      bad.report(file, lines.line_number(), "expected 5 '::'-separated fields, found {}", n);
      continue;
    }
    std::int64_t id = 0, age = 0, occupation = 0;
    if (!parse_int64(f[0], id) || !parse_int64(f[2], age) || !parse_int64(f[3], occupation) || age < 0 ||
        age > 150) {
      bad.report(file, lines.line_number(), "user id, age or occupation is not a valid number");
      continue;
    }
    if (occupation < 0 || occupation >= static_cast<std::int64_t>(kMl1mOccupations.size())) {
      bad.report(file, lines.line_number(), "occupation code {} is not in 0..20", occupation);
      continue;
    }
    char gender = parse_gender(f[1]);
    if (!gender) {
      bad.report(file, lines.line_number(), "gender '{}' is not M or F", f[1]);
      continue;
    }
    User user;
    user.id = id;
    user.gender = gender;
    user.age = static_cast<std::int32_t>(age);
    user.occupation = kMl1mOccupations[static_cast<std::size_t>(occupation)];
    builder.add_user(std::move(user), file, lines.line_number());
  }
}


}  // namespace

Ratings load_ml1m(const fs::path& folder, const DataConfig& config, BadRows& bad) {
  const auto ratings_path = folder / "ratings.dat";
  PERSONAS_CHECK_HINT(fs::exists(ratings_path), io,
                      "without ratings.dat, use data.source = ml1m-fallback (the derived ratings without timestamps)",
                      "'{}' not found (data.path = '{}')", ratings_path.string(), folder.string());
  const auto movies_path = require_file(folder, "movies.dat");
  const auto users_path = require_file(folder, "users.dat");
  RatingsBuilder builder("ml1m", config.rating_min, config.rating_max, bad);
  load_ml1m_movies(movies_path, builder, bad);
  load_ml1m_users(users_path, builder, bad);
  load_rating_rows(ratings_path, "::", /*with_time=*/true, builder, bad);
  return builder.finish(/*has_timestamps=*/true);
}

Ratings load_ml1m_fallback(const fs::path& path, const DataConfig& config, BadRows& bad) {
  const std::string name = "ratings_user_itemidx_rating.tsv.gz";
  fs::path file = path;
  if (fs::is_directory(path)) {
    file = fs::exists(path / "derived" / name) ? path / "derived" / name : path / name;
  }
  PERSONAS_CHECK_HINT(fs::exists(file), io, "data.path must be the ml-1m folder or the .tsv.gz file itself",
                      "'{}' not found (data.path = '{}')", file.string(), path.string());
  RatingsBuilder builder("ml1m-fallback", config.rating_min, config.rating_max, bad);
  // Demographics from users.dat next to the derived/ folder, when present.
  for (auto candidate : {file.parent_path().parent_path() / "users.dat", file.parent_path() / "users.dat"}) {
    if (fs::exists(candidate)) {
      load_ml1m_users(candidate, builder, bad);
      break;
    }
  }
  builder.allow_new_users(true);
  builder.allow_new_items(true);  // item indices 1..3706; no titles, no genres
  load_rating_rows(file, "\t", /*with_time=*/false, builder, bad);
  return builder.finish(/*has_timestamps=*/false);
}

Ratings load_ratings(const DataConfig& config, BadRows& bad_rows) {
  const fs::path path = config.path;
  switch (config.source) {
    case DataSource::ml100k: return load_ml100k(path, config, bad_rows);
    case DataSource::ml1m: return load_ml1m(path, config, bad_rows);
    case DataSource::ml1m_fallback: return load_ml1m_fallback(path, config, bad_rows);
    case DataSource::csv: return load_csv(path, config, bad_rows);
    case DataSource::synthetic: break;
  }
  PERSONAS_FAIL(config, "data.source = {} has no file loader (synthetic data comes from the generator)",
                to_string(config.source));
}

}  // namespace personas
