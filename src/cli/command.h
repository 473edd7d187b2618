// A subcommand of `personas`: its own flags (besides the config keys) and the
// function that runs it on every rank.
#pragma once

#include <boost/program_options.hpp>

#include <functional>
#include <string>

#include "comm/comm.h"
#include "core/config_schema.h"
#include "core/run_dir.h"
#include "pipeline/config.h"

namespace personas {

struct CommandContext {
  Comm& comm;
  Config& config;
  ConfigSchema& schema;
  const boost::program_options::variables_map& args;  // the command's own flags
  // RUN/config.ini was written (rank 0) for commands that use a run directory.
  RunDir run_dir() const { return RunDir(config.run.dir); }
};

struct Command {
  std::string name;
  std::string summary;
  // Adds the command's own flags (e.g. convert's --from, --out).
  std::function<void(boost::program_options::options_description&)> add_options;
  // Runs on every rank; returns the process exit code.
  std::function<int(CommandContext&)> run;
  // Whether the command writes RUN/config.ini (stages do; convert/generate don't).
  bool uses_run_dir = true;
  // Flag that receives bare words after the command (e.g. bench's "train-step"); empty = none.
  std::string positional;
  int positional_count = 1;  // how many bare words it takes (-1 = all)
};

}  // namespace personas
