#include "data/data_config.h"

namespace personas {

const std::vector<std::pair<std::string, DataSource>>& data_source_names() {
  static const std::vector<std::pair<std::string, DataSource>> names = {{"ml100k", DataSource::ml100k},
                                                                        {"ml1m", DataSource::ml1m},
                                                                        {"ml1m-fallback", DataSource::ml1m_fallback},
                                                                        {"csv", DataSource::csv},
                                                                        {"synthetic", DataSource::synthetic}};
  return names;
}

std::string to_string(DataSource source) { return choice_word(data_source_names(), source); }

const std::vector<std::pair<std::string, BadRowPolicy>>& bad_row_policy_names() {
  static const std::vector<std::pair<std::string, BadRowPolicy>> names = {{"error", BadRowPolicy::error},
                                                                          {"skip", BadRowPolicy::skip}};
  return names;
}

void DataConfig::describe(ConfigSchema& s) {
  s.add_choice("data.source", &source, data_source_names(), "where the ratings come from");
  s.add("data.path", &path,
        "folder of the MovieLens files (ml100k, ml1m), the ratings CSV file (csv), or the ML-1M folder / "
        "ratings_user_itemidx_rating.tsv.gz file (ml1m-fallback)");
  s.add("data.n_users", &n_users,
        "users to select with the seed (0 = every eligible user); synthetic: users to generate");
  s.add("data.min_ratings", &min_ratings, "a user is eligible with at least this many ratings");
  s.add("data.max_ratings", &max_ratings, "... and at most this many (0 = no upper limit)");
  s.add("data.train_fraction", &train_fraction, "fraction of each user's ratings, oldest first, used for training");
  s.add_choice("data.on_bad_row", &on_bad_row, bad_row_policy_names(),
               "a malformed input row stops with an error naming file:line, or is skipped with a warning");
  s.add("data.rating_min", &rating_min, "smallest valid rating (0.5 for ML-latest/ML-25M CSV files)");
  s.add("data.rating_max", &rating_max, "largest valid rating");
  s.add("data.csv_separator", &csv_separator, "csv: field separator: ',' ';' 'tab' or '::'");
  s.add("data.csv_user_col", &csv_user_col, "csv: header name of the user id column");
  s.add("data.csv_item_col", &csv_item_col, "csv: header name of the item id column");
  s.add("data.csv_rating_col", &csv_rating_col, "csv: header name of the rating column");
  s.add("data.csv_time_col", &csv_time_col,
        "csv: header name of the timestamp column (seconds); empty = no timestamps (seeded random order)");
  s.add("data.csv_items_path", &csv_items_path,
        "csv: optional items file with a header (ML-latest movies.csv style: item id, title, genres)");
  s.add("data.csv_item_title_col", &csv_item_title_col, "csv: header name of the title column in the items file");
  s.add("data.csv_item_genres_col", &csv_item_genres_col,
        "csv: header name of the '|'-separated genres column in the items file");
  s.add("data.synth_items", &synth_items, "synthetic: number of items in the catalogue");
  s.add("data.synth_personas", &synth_personas, "synthetic: number of planted personas (taste groups over genres)");
  s.add("data.synth_activity_tail", &synth_activity_tail,
        "synthetic: Pareto shape of the ratings-per-user tail between min_ratings and max_ratings (smaller = heavier)");
  s.add("data.synth_noise", &synth_noise, "synthetic: rating noise, relative to the latent score's spread");
  s.add("data.synth_chunk_users", &synth_chunk_users,
        "synthetic: users generated and written per chunk (bounds the memory of `personas synth`)");
  s.add_check([this](Problems& p) {
    if (n_users < 0) p.add("data.n_users: {} must be >= 0", n_users);
    if (min_ratings < 1) p.add("data.min_ratings: {} must be >= 1", min_ratings);
    if (max_ratings != 0 && max_ratings < min_ratings)
      p.add("data.max_ratings: {} is below data.min_ratings {}", max_ratings, min_ratings);
    if (!(train_fraction > 0.0 && train_fraction < 1.0))
      p.add("data.train_fraction: {} must be in (0, 1)", train_fraction);
    if (source != DataSource::synthetic && path.empty())
      p.add("data.path: required for data.source = {} (the folder or file holding the ratings)", to_string(source));
    if (!(rating_min < rating_max)) p.add("data.rating_min {} must be below data.rating_max {}", rating_min, rating_max);
    if (csv_separator != "," && csv_separator != ";" && csv_separator != "tab" && csv_separator != "::" &&
        csv_separator != "\t")
      p.add("data.csv_separator: '{}' is not one of ',' ';' 'tab' '::'", csv_separator);
    if (synth_items < 2) p.add("data.synth_items: {} must be >= 2", synth_items);
    if (synth_personas < 1 || synth_personas > 64) p.add("data.synth_personas: {} must be in 1..64", synth_personas);
    if (!(synth_activity_tail > 0.0)) p.add("data.synth_activity_tail: {} must be > 0", synth_activity_tail);
    if (!(synth_noise >= 0.0)) p.add("data.synth_noise: {} must be >= 0", synth_noise);
    if (synth_chunk_users < 1) p.add("data.synth_chunk_users: {} must be >= 1", synth_chunk_users);
    if (source == DataSource::synthetic) {
      if (n_users < 1) p.add("data.n_users: synthetic data needs n_users >= 1 (users to generate)");
      if (min_ratings >= synth_items)
        p.add("data.min_ratings: {} must be below data.synth_items {} for synthetic data", min_ratings, synth_items);
    }
  });
}

}  // namespace personas
