#include "data/data_config.h"

namespace personas {

void DataConfig::describe(ConfigSchema& s) {
  s.add_choice("data.source", &source, {"ml100k", "ml1m", "ml1m-fallback", "csv", "synthetic"},
               "where the ratings come from");
  s.add("data.path", &path, "folder of the MovieLens files, or the CSV/TSV file");
  s.add("data.n_users", &n_users, "users to select with the seed (0 = every eligible user)");
  s.add("data.min_ratings", &min_ratings, "a user is eligible with at least this many ratings");
  s.add("data.max_ratings", &max_ratings, "... and at most this many (0 = no upper limit)");
  s.add("data.train_fraction", &train_fraction, "fraction of each user's ratings, oldest first, used for training");
  s.add_choice("data.on_bad_row", &on_bad_row, {"error", "skip"},
               "a malformed input row stops with an error naming file:line, or is skipped with a warning");
  s.add_check([this](Problems& p) {
    if (n_users < 0) p.add("data.n_users: {} must be >= 0", n_users);
    if (min_ratings < 1) p.add("data.min_ratings: {} must be >= 1", min_ratings);
    if (max_ratings != 0 && max_ratings < min_ratings)
      p.add("data.max_ratings: {} is below data.min_ratings {}", max_ratings, min_ratings);
    if (!(train_fraction > 0.0 && train_fraction < 1.0))
      p.add("data.train_fraction: {} must be in (0, 1)", train_fraction);
    if (source != "synthetic" && path.empty())
      p.add("data.path: required for data.source = {} (the folder or file holding the ratings)", source);
  });
}

}  // namespace personas
