// Logging: spdlog with a prefix of elapsed seconds and rank. Rank 0 logs by
// default; `log.all_ranks = true` makes every rank log (to stderr).
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace personas {

struct LogOptions {
  std::string level = "info";  // trace|debug|info|warn|error|off
  bool all_ranks = false;
};

// Sets up the default logger. Safe to call again (e.g. once the rank is known).
void init_logging(int rank, int n_ranks, const LogOptions& options);

// Seconds since the process started logging (monotonic).
double elapsed_seconds();

}  // namespace personas

namespace plog = spdlog;  // call sites: plog::info("..."), plog::warn(...)
