// [data]: where ratings come from and how users are selected and split.
#pragma once

#include <cstdint>
#include <string>

#include "core/config_schema.h"

namespace personas {

struct DataConfig {
  std::string source = "synthetic";  // ml100k|ml1m|ml1m-fallback|csv|synthetic
  std::string path;                  // folder (ml100k, ml1m) or file (csv, ml1m-fallback)
  int n_users = 200;                 // users selected (0 = every eligible user)
  int min_ratings = 100;             // eligibility: at least this many ratings
  int max_ratings = 200;             // eligibility: at most this many (0 = no limit)
  double train_fraction = 0.6;       // per-user temporal split
  std::string on_bad_row = "error";  // error|skip

  void describe(ConfigSchema& schema);
};

}  // namespace personas
