// [data]: where ratings come from, how users are selected and split, and the
// synthetic generator's knobs. docs/data.md explains every key.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/config_schema.h"

namespace personas {

// data.source: where the ratings come from.
enum class DataSource { ml100k, ml1m, ml1m_fallback, csv, synthetic };
const std::vector<std::pair<std::string, DataSource>>& data_source_names();
std::string to_string(DataSource source);

// data.on_bad_row: a malformed input row stops the stage, or is skipped and counted.
enum class BadRowPolicy { error, skip };
const std::vector<std::pair<std::string, BadRowPolicy>>& bad_row_policy_names();

struct DataConfig {
  DataSource source = DataSource::synthetic;
  std::string path;                  // folder (ml100k, ml1m, ml1m-fallback) or file (csv, ml1m-fallback)
  int n_users = 200;                 // users selected (0 = every eligible user); synthetic: users generated
  int min_ratings = 100;             // eligibility: at least this many ratings
  int max_ratings = 200;             // eligibility: at most this many (0 = no limit)
  double train_fraction = 0.6;       // per-user temporal split
  BadRowPolicy on_bad_row = BadRowPolicy::error;
  double rating_min = 1.0;           // ratings outside [rating_min, rating_max] are bad rows
  double rating_max = 5.0;

  // Generic CSV (data.source = csv): a header row names the columns.
  std::string csv_separator = ",";        // "," ";" "tab" or "::"
  std::string csv_user_col = "userId";
  std::string csv_item_col = "movieId";
  std::string csv_rating_col = "rating";
  std::string csv_time_col = "timestamp";  // "" = the file has no timestamps
  std::string csv_items_path;              // optional movies file (ML-latest movies.csv style)
  std::string csv_item_title_col = "title";
  std::string csv_item_genres_col = "genres";  // '|'-separated genre names

  // Synthetic generator (data.source = synthetic, or `personas synth`).
  int synth_items = 1682;              // catalogue size
  int synth_personas = 8;              // planted taste groups
  double synth_activity_tail = 1.2;    // Pareto shape of ratings per user (smaller = heavier tail)
  double synth_noise = 0.55;           // rating noise (in units of the latent score's spread)
  int synth_chunk_users = 65536;       // users generated and written per chunk (bounds memory)

  void describe(ConfigSchema& schema);
};

}  // namespace personas
