// Logging: spdlog with a prefix of elapsed seconds and rank. Rank 0 logs by
// default; `log.all_ranks = true` makes every rank log (to stderr).
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <utility>
#include <vector>

namespace personas {

struct LogOptions {
  spdlog::level::level_enum level = spdlog::level::info;  // log.level
  bool all_ranks = false;
};

// The words of log.level: trace, debug, info, warn, error, off.
const std::vector<std::pair<std::string, spdlog::level::level_enum>>& log_level_names();

// Sets up the default logger. Safe to call again (e.g. once the rank is known).
void init_logging(int rank, int n_ranks, const LogOptions& options);

// Seconds since the process started logging (monotonic).
double elapsed_seconds();

}  // namespace personas

namespace plog = spdlog;  // call sites: plog::info("..."), plog::warn(...)
