// Loaders of the supported ratings sources (docs/data.md describes each
// format). Each returns every item, user and rating of the source; selection
// and split come after (data/selection.h). Bad rows go to `bad_rows`.
#pragma once

#include "core/fs.h"
#include "data/bad_rows.h"
#include "data/data_config.h"
#include "data/ratings.h"

namespace personas {

// MovieLens 100K folder: u.data, u.item (Latin-1), u.user, u.genre.
Ratings load_ml100k(const fs::path& folder, const DataConfig& config, BadRows& bad_rows);
// MovieLens 1M folder: ratings.dat, movies.dat (Latin-1), users.dat, '::'-separated.
Ratings load_ml1m(const fs::path& folder, const DataConfig& config, BadRows& bad_rows);
// The ML-1M ratings without timestamps and with re-indexed items
// (derived/ratings_user_itemidx_rating.tsv.gz): `path` is that file or the
// ml-1m folder. Demographics come from users.dat when it is found nearby;
// items have no titles or genres.
Ratings load_ml1m_fallback(const fs::path& path, const DataConfig& config, BadRows& bad_rows);
// A ratings CSV with a header row, columns named by data.csv_*_col; optional
// items file (data.csv_items_path).
Ratings load_csv(const fs::path& path, const DataConfig& config, BadRows& bad_rows);

// Dispatches on config.source (not "synthetic").
Ratings load_ratings(const DataConfig& config, BadRows& bad_rows);

// "Toy Story (1995)" -> {"Toy Story", 1995}; no year suffix -> {title, 0}.
std::pair<std::string, int> split_title_year(std::string_view title);

}  // namespace personas
